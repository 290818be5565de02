"""Feature colour: the CIE L*a*b* of a face's brows, eye region and lips, averaged in linear light over
their unclipped pixels as the skin patches are; and where those features lie (`face_features`), which
the facial contrast (`contrast`) reads too.

The features, from the `fasseg6` map in the eye-line frame:
- brows: `FaceView.brow_frame` of both eyes (fasseg6 paints brows as hair);
- eyes: the eyes class in the two eye blobs (the eye opening: sclera, iris, pupil and the lash line
  the map paints with them);
- lips: the mouth class in its blobs of at least `LIP_SHARE` of the largest one (a map that leaves the
  lip opening out, as the templates' maps do, gives two lips), less the teeth.

The mouth class holds whatever shows between the lips: a smile's teeth are mouth. A tooth is a mouth
pixel lighter than the face's skin and less than `TOOTH_CHROMA` of its chroma C*ab (the skin as
`view.mean_lab` reads `view.face_skin`, on every 4th row and column); those pixels, opened by a disc
of radius `TOOTH_GROW` (a speck narrower than that is a highlight on a glossy lip, not a tooth) and
grown by it (JPEG keeps colour at half resolution, so a tooth's edge takes colour from the lip beside
it), are the teeth. On the 40 London people photographed neutral and smiling, lip L* and a* of the
two photos agree with ICC(2,1) 0.92 and 0.93 with the teeth out, 0.75 and 0.74 with them in (teeth
lightened the smiling lips by 3.3 L* on average); the rule takes a median 3.5 % of a smiling mouth
(16 % at the 90th percentile), at most 0.5 % of a neutral one and nothing of the neutral photos'
template maps. Yellowish teeth beside dark skin can stay (London 061 smiling: their chroma is above
half the skin's). Lipstick stays: at 1.0 x the skin's chroma the rule would take a quarter of a
neutral mouth with lilac or glossy lipstick (London 006, 025, 042; 36 % of 061's dark lips), at 0.7
up to 7 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from faceparse.profile.colour import linear_to_lab
from faceparse.profile.frame import EYES, HAIR, MOUTH, Blob
from faceparse.profile.measures import Measure
from faceparse.profile.view import FaceView

FEATURES = ("brows", "eyes", "lips")
CLASS = {"brows": HAIR, "eyes": EYES, "lips": MOUTH}
LIP_SHARE = 0.1       # a mouth blob this share of the largest one is lips too
TOOTH_CHROMA = 0.5    # a tooth is less colourful than this x the skin's C*ab (and lighter than the skin)
TOOTH_GROW = 2        # pixels: teeth narrower than twice this are specks; the rest is grown by this much
TEETH_SHARE = 0.1     # teeth this share of the mouth or more: the mouth is open (flag lips_teeth)
FRINGE_SHARE = 0.5    # hair right above this share of the brows' columns or more: a fringe (brows_fringe)
COLUMNS = tuple(f"{f}_{c}" for f in FEATURES for c in ("L", "a", "b", "n")) + ("features_flags",)


@dataclass(frozen=True)
class Features:
    """Where one face's features lie."""

    frames: dict[str, np.ndarray]   # feature -> `(H', W') bool` in the eye-line frame, lips with their teeth
    masks: dict[str, np.ndarray]    # feature -> `(h, w) bool` on the face's window, whose colour is read
    flags: tuple[str, ...]          # brows_fringe, lips_teeth


def _in_boxes(mask: np.ndarray, boxes: list[Blob] | tuple[Blob, ...]) -> np.ndarray:
    """`mask` within the blobs' bounding boxes only (a stray blob elsewhere is not the feature)."""
    out = np.zeros_like(mask)
    for b in boxes:
        out[b.top: b.bottom + 1, b.left: b.right + 1] = mask[b.top: b.bottom + 1, b.left: b.right + 1]
    return out


def _fringe_share(labels: np.ndarray, brows: np.ndarray) -> float:
    """The share of the brows' columns with hair right above the brow's top: head hair joining the
    brows from above (`view._brow` then keeps their lowest part)."""
    cols = np.flatnonzero(brows.any(axis=0))
    if not cols.size:
        return 0.0
    top = brows[:, cols].argmax(axis=0)
    return float((labels[np.maximum(top - 1, 0), cols] == HAIR).mean())


def _teeth(view: FaceView, mouth: np.ndarray) -> np.ndarray:
    """`(h, w) bool` the teeth of a `(h, w) bool` mouth mask (see the module's docstring)."""
    lab = linear_to_lab(view.linear(view.pixels(mouth)))
    # The skin on every 4th row and column: the same mean to 0.05 L*a*b*, 1/16 the work.
    skin, _ = view.mean_lab_of(view.window[::4, ::4][view.face_skin[::4, ::4]])
    tooth = (lab[:, 0] > skin[0]) & (np.hypot(lab[:, 1], lab[:, 2]) < TOOTH_CHROMA * math.hypot(skin[1], skin[2]))
    teeth = np.zeros_like(mouth)
    teeth[mouth] = tooth  # no tooth where the skin is NaN (no skin): comparisons with NaN are False
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * TOOTH_GROW + 1,) * 2)
    teeth = cv2.dilate(cv2.morphologyEx(teeth.astype(np.uint8), cv2.MORPH_OPEN, kernel), kernel)
    return teeth.astype(bool) & mouth


def unplaceable(view: FaceView) -> list[str]:
    """Why the features of a view cannot be told apart: no two eyes (the frame's flags), or a mouth
    that is not below the eyes (`mouth_above_eyes`: a map gone wrong, as on a photo on its side)."""
    f = view.frame
    if f is None:
        return list(view.frame_flags)
    if f.mouth_above_eyes:
        return ["mouth_above_eyes"]
    return []


def face_features(view: FaceView) -> Features:
    """The brows, eye region and lips of a view that has a frame (computed once per view)."""
    if "features" not in view.cache:
        f = view.frame
        frames = {"brows": view.brow_frame(0) | view.brow_frame(1),
                  "eyes": _in_boxes(f.labels == EYES, f.eyes),
                  "lips": _in_boxes(f.labels == MOUTH, [b for b in f.mouth if b.area >= LIP_SHARE * f.mouth[0].area])}
        masks = {name: m & (view.face.labels == CLASS[name])
                 for name, m in zip(frames, view.window_masks(list(frames.values())))}
        flags = []
        if frames["brows"].any() and _fringe_share(f.labels, frames["brows"]) >= FRINGE_SHARE:
            flags.append("brows_fringe")
        mouth = masks["lips"]
        if mouth.any():
            teeth = _teeth(view, mouth)
            if int(np.count_nonzero(teeth)) >= TEETH_SHARE * int(np.count_nonzero(mouth)):
                flags.append("lips_teeth")
            masks["lips"] = mouth & ~teeth
        view.cache["features"] = Features(frames, masks, tuple(flags))
    return view.cache["features"]


def support_flag(name: str, mask_pixels: int, read_pixels: int, least: int) -> str | None:
    """Why a feature's colour is not reported: `no_<feature>` (fewer than `least` pixels in its mask),
    `<feature>_clipped` (fewer than `least` left once clipped pixels are out), else None."""
    if mask_pixels < least:
        return f"no_{name}"
    if read_pixels < least:
        return f"{name}_clipped"
    return None


def _take(view: FaceView) -> tuple[dict, list[str]]:
    if unplaceable(view):
        return {}, unplaceable(view)
    found = face_features(view)
    row: dict[str, float | int] = dict.fromkeys(COLUMNS[:-1], math.nan)
    flags = list(found.flags)
    grey = view.greyscale
    for name in FEATURES:
        if name == "brows" and "brows_fringe" in found.flags:  # a guess at the brow under the fringe: not reported
            continue
        mask = found.masks[name]
        lab, n = view.mean_lab(mask)
        row[f"{name}_n"] = n
        why = support_flag(name, int(np.count_nonzero(mask)), n, view.params.min_feature_pixels)
        if why is not None:
            flags.append(why)
            continue
        row.update({f"{name}_L": float(lab[0]), f"{name}_a": float(lab[1]), f"{name}_b": float(lab[2])})
        if grey:  # lightness is measured; hue is not there to measure
            row[f"{name}_a"] = row[f"{name}_b"] = math.nan
    if grey:
        flags.append("greyscale")
    return row, flags


FLAGS = {"no_eyes": "the map has no eyes: no feature can be placed", "one_eye": "the map has one eye",
         "mouth_above_eyes": "the mouth is not below the eyes: the map is wrong, no feature is read",
         "no_<feature>": "fewer pixels of the feature than min_feature_pixels",
         "<feature>_clipped": "fewer unclipped pixels of the feature than min_feature_pixels",
         "brows_fringe": "head hair joins the brows from above (a fringe): the brows cannot be told from it, "
                         "their colour and contrast are left empty",
         "lips_teeth": "the mouth is open: teeth (at least TEETH_SHARE of the mouth) are left out of the lips",
         "greyscale": "the photo holds no colour: L* only"}
MEASURE = Measure(
    "features", "feature colour: CIE L*a*b* (D65) of the brows, the eye region and the lips (teeth left out), "
    "averaged in linear light over their unclipped pixels",
    COLUMNS, FLAGS, _take)
