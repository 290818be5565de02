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
0.4 at 5, more than the contrasts measured (about 0.1 to 0.5). With the default rings no channel of
the study's photos is left out (with rings of 0.1 x iod, the eyes' b* of four faces on the template
maps was). Where one mean is negative and the sum is not small, the ratio can pass +-1 (the eyes' b*:
up to 1.4 on the model's maps of the London and Canada photos, 2.6 on a template map): it is still
the papers' formula, to be read with care. L* never comes near (its sum is below 5 on a black photo only).

The ring: the face's skin (`view.face_skin`: skin class, no neck) within reach of the feature
(Euclidean distance in the eye-line frame), the feature itself left out; each feature has its own
reach, `params.ring_brows`, `ring_eyes` and `ring_lips` x iod. A ring pixel must be skin, so the
other features (brow hair, the eye opening, the mouth with its teeth) never enter it; rings of
neighbouring features may share skin (the upper lid lies within reach of both brow and eye), as the
same skin surrounds both features for a viewer (with rings of 0.1 x iod for all three, keeping each
skin pixel to its nearest feature's ring moved the agreement with the template maps below by 0.01 at
most). The lips' ring surrounds the whole mouth, teeth included.

The widths: a brow's ring is the skin close to it, 0.05 x iod (about 3 mm); an eye's, 0.25 x iod,
takes in the lids up to the brow and as much skin below the eye; the lips' is 0.1 x iod. They were
chosen on the 80 template maps the study checks against (`validation`), so those figures are not an
independent test of the widths. ICC(2,1) of each feature's L* contrast, the model's maps against the
template maps (London / Canada, band 2, London 003's fringe-covered brows still counted), by width:

    x iod  0.03         0.05         0.07         0.1          0.15         0.2          0.25         0.3
    brows  0.891/0.893  0.946/0.836  0.952/0.792  0.945/0.756  0.927/0.734  0.917/0.724  0.905/0.712  0.895/0.706
    eyes   0.686/0.402  0.808/0.662  0.831/0.688  0.845/0.635  0.874/0.672  0.902/0.733  0.918/0.763  0.924/0.778

Brows: the widths within 0.01 of London's best (London is the first set: 0.945 to 0.952 from 0.05
to 0.1), and of those the one Canada agrees best with (at 0.03 Canada rises to 0.893, but London
falls to 0.891). Eyes: agreement rises with every width tried, on to 0.35 (0.928 / 0.805), 0.4
(0.929 / 0.835) and 0.5 (0.930 / 0.876), as a wider ring averages more of the face's skin and less of
the eye's edge, so agreement cannot choose the width; 0.25 keeps the ring on the eye's own skin, the
lids and as far below the eye, where wider rings reach the cheek, the temple and the forehead.

A narrow eye ring is mostly the lash line and the lid's edge, which the map paints as eye and the
templates leave as skin: the model reads the eyes 0.042 / 0.032 above the templates at 0.1, 0.028 /
0.020 at 0.25. A wide brow ring moves the model further above the Canada templates, which draw the
brows loosely over skin (+0.032 at 0.05, +0.051 at 0.1, +0.063 at 0.2); London's brows agree alike
from 0.05 to 0.1. Test-retest (London neutral vs smiling, ICC(3,1)) is 0.98 to 0.99 for the brows
and 0.95 to 0.97 for the eyes at every width from 0.05 to 0.3.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from faceparse.profile.features import FEATURES, FLAGS, face_features, support_flag, unplaceable
from faceparse.profile.frame import mask_box
from faceparse.profile.measures import Measure
from faceparse.profile.params import ProfileParams
from faceparse.profile.view import FaceView

CHANNELS = ("L", "a", "b")
MIN_SUM = 5.0  # a* or b* units: S + F below this leaves that channel's contrast empty
COLUMNS = tuple(f"contrast_{f}_{c}" for f in FEATURES for c in CHANNELS + ("n", "ring_n")) + ("contrast_flags",)


def ring_reach(params: ProfileParams, feature: str) -> float:
    """The width of `feature`'s ring ("brows", "eyes" or "lips"), x iod: `params.ring_<feature>`."""
    return getattr(params, f"ring_{feature}")


def ring_frames(view: FaceView) -> dict[str, np.ndarray]:
    """Each feature's ring `(H', W') bool` in the eye-line frame: face skin (`view.face_skin_frame`)
    within the feature's `ring_<feature>` x iod of it, the feature excluded (the view must have a frame)."""
    skin = view.face_skin_frame
    rings = {}
    for name, feature in face_features(view).frames.items():
        reach = ring_reach(view.params, name) * view.frame.iod
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
    in_frame = ring_frames(view)
    rings = dict(zip(in_frame, view.window_masks(list(in_frame.values()))))  # on the face's window
    row: dict[str, float | int] = dict.fromkeys(COLUMNS[:-1], math.nan)
    flags = list(found.flags)
    for name in FEATURES:
        if name == "brows" and "brows_fringe" in found.flags:  # a guess at the brow under the fringe: not reported
            continue
        mask = found.masks[name]
        feature, n = view.mean_lab(mask)
        skin, n_ring = view.mean_lab(rings[name] & view.face_skin)
        row[f"contrast_{name}_n"], row[f"contrast_{name}_ring_n"] = n, n_ring
        why = support_flag(name, int(np.count_nonzero(mask)), n, p.min_feature_pixels)
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
