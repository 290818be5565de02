"""Facial contrast: how far the brows, the eyes and the lips stand out from the skin around them, in
L*, a* and b* (Russell 2009, Perception 38:1211; Porcheron, Mauger & Russell 2013, PLoS ONE 8:e57985;
Porcheron et al. 2017, Front. Psychol. 8:1208).

For each feature (`features.face_features`: both brows pooled, both eyes pooled, the lips without
their teeth) and each channel, `(S - F) / (S + F)`: F the feature's colour, S the colour of a ring of
skin around it, both read by `view.mean_lab` (the mean of the unclipped pixels in linear light, then
L*a*b*), as the skin patches are. A feature darker than its skin has a positive L* contrast; lips
redder than their skin a negative a* contrast.

a* and b*: the same ratio on each channel, as Porcheron et al. 2013 and 2017 computed it, so the
values compare with theirs. It is a Michelson contrast only where both means are positive, and a*
and b* can be near zero (the eye region's b* is -2 to 7 on the London and Canada photos) or below
it. So a channel's ratio is left empty (flag `<feature>_<channel>_undefined`) where S + F is below
`MIN_SUM`: with both means positive, a 1-unit error in either moves the ratio by up to 2 / (S + F),
0.4 at 5, more than the contrasts measured (about 0.1 to 0.5). On the 80 photos' template maps this
leaves out the eyes' b* of four faces and their a* of one; on the model's maps of the 80 London
photos, the eyes' b* of one. Where one mean is negative and the sum is not
small, the ratio can pass +-1 (the eyes' b*: up to 1.5 there): it is still the papers' formula, to
be read with care. L* never comes near (its sum is below 5 on a black photo only).

The ring: the face's skin (`view.face_skin`: skin class, no neck) within `params.ring_width` x iod of
the feature (Euclidean distance in the eye-line frame), the feature itself left out. A ring pixel must
be skin, so the other features (brow hair, the eye opening, the mouth with its teeth) never enter it;
rings of neighbouring features may share skin (the upper lid lies within reach of both brow and eye),
as the same skin surrounds both features for a viewer (keeping each skin pixel to its nearest
feature's ring moves the agreement with the template maps below by 0.01 at most). The lips' ring
surrounds the whole mouth, teeth included. The width, 0.1 x iod (about 6 mm), keeps the ring on the
skin next to the feature: between brow and eye there is 0.2 to 0.3 x iod. Against the London and
Canada template maps (band 2, London 003's fringe-covered brows still counted), widths of 0.05, 0.1,
0.15 and 0.2 gave ICC(2,1) 0.82, 0.77, 0.74, 0.72 for the brows' L* contrast and 0.78, 0.81, 0.85,
0.88 for the eyes': no width serves both better than 0.1.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from faceparse.profile.features import FEATURES, FLAGS, face_features, support_flag, unplaceable
from faceparse.profile.frame import mask_box
from faceparse.profile.measures import Measure
from faceparse.profile.view import FaceView

CHANNELS = ("L", "a", "b")
MIN_SUM = 5.0  # a* or b* units: S + F below this leaves that channel's contrast empty
COLUMNS = tuple(f"contrast_{f}_{c}" for f in FEATURES for c in CHANNELS + ("n", "ring_n")) + ("contrast_flags",)


def ring_frames(view: FaceView) -> dict[str, np.ndarray]:
    """Each feature's ring `(H', W') bool` in the eye-line frame: face skin (`view.face_skin_frame`)
    within ring_width x iod of the feature, the feature excluded (the view must have a frame)."""
    reach = view.params.ring_width * view.frame.iod
    skin = view.face_skin_frame
    rings = {}
    for name, feature in face_features(view).frames.items():
        ring = np.zeros_like(feature)
        box = mask_box(feature, int(np.ceil(reach)) + 1)  # the distance to the feature, on its box and reach
        if box is not None:
            dist = cv2.distanceTransform((~feature[box]).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            ring[box] = (dist <= reach) & ~feature[box] & skin[box]
        rings[name] = ring
    return rings


def _take(view: FaceView) -> tuple[dict, list[str]]:
    if unplaceable(view):
        return {}, unplaceable(view)
    p = view.params
    found = face_features(view)
    rings = ring_frames(view)
    row: dict[str, float | int] = dict.fromkeys(COLUMNS[:-1], math.nan)
    flags = list(found.flags)
    for name in FEATURES:
        if name == "brows" and "brows_fringe" in found.flags:  # a guess at the brow under the fringe: not reported
            continue
        mask = found.masks[name]
        feature, n = view.mean_lab(mask)
        skin, n_ring = view.mean_lab(view.window_mask(rings[name]) & view.face_skin)
        row[f"contrast_{name}_n"], row[f"contrast_{name}_ring_n"] = n, n_ring
        why = support_flag(name, int(mask.sum()), n, p.min_feature_pixels)
        if why is None and n_ring < p.min_ring_pixels:
            why = f"{name}_ring_small"
        if why is not None:
            flags.append(why)
            continue
        for c, s, f in zip(CHANNELS, skin, feature):
            if view.greyscale and c != "L":  # a grey photo's a* and b* are JPEG noise about 0: no hue to read
                continue
            if not s + f >= MIN_SUM:
                flags.append(f"{name}_{c}_undefined")
                continue
            row[f"contrast_{name}_{c}"] = float((s - f) / (s + f))
    return row, flags + ["greyscale"] * view.greyscale


MEASURE = Measure(
    "contrast", "facial contrast: (skin - feature) / (skin + feature) in L*, a* and b* for the brows, eyes and "
    "lips against a ring of skin around each (Russell 2009; Porcheron, Mauger & Russell 2013)",
    COLUMNS,
    {"no_eyes": "the map has no eyes: no feature can be placed", "one_eye": "the map has one eye",
     "mouth_above_eyes": FLAGS["mouth_above_eyes"], "greyscale": "the photo holds no colour: L* contrast only",
     "no_<feature>": "fewer pixels of the feature than min_feature_pixels",
     "<feature>_clipped": "fewer unclipped pixels of the feature than min_feature_pixels",
     "<feature>_ring_small": "fewer unclipped skin pixels around the feature than min_ring_pixels",
     "<feature>_L_undefined": f"skin + feature L* below {MIN_SUM:g} (a black photo): no L* contrast",
     "<feature>_a_undefined": f"skin + feature a* below {MIN_SUM:g}: no a* contrast",
     "<feature>_b_undefined": f"skin + feature b* below {MIN_SUM:g}: no b* contrast",
     "brows_fringe": FLAGS["brows_fringe"], "lips_teeth": FLAGS["lips_teeth"] + " (the ring surrounds the whole mouth)"},
    _take)
