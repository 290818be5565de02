"""Head pose of one face: roll from the eye line and yaw from how far the nose tip stands off the
face's midline, read off the detector's five points, or off the face map where there are none.

The head model (orthographic view; the head turns about a vertical axis). The eye centres and the
mouth corners lie near one plane, symmetric about the face's midline; the nose tip stands a depth
D in front of it. Turned by a yaw t, every point moves sideways by its depth times sin(t): the
midpoints of the eyes and of the mouth corners stay on the midline (their depths average about the
plane's), the nose tip moves D sin(t) off it, and the height H from the eye line down to the mouth
corners does not change (a turn about a vertical axis keeps every row). So, with the points
levelled to a horizontal eye line, the nose tip's offset from the midline over that height is
(D / H) sin(t), and

    yaw = asin(offset / (NOSE_DEPTH x height)),     NOSE_DEPTH = D / H.

The eye-to-mouth height is the scale because the inter-ocular distance is foreshortened by the turn
and the far eye is partly hidden: on FASSEG V3 the detector's eyes close in only to two thirds of
their frontal distance at 60 degrees, where cos(60) = 0.5, while offset / height follows 0.45 sin(t)
closely to 60 degrees. The height shortens by cos(pitch) with a nod, which the model ignores (a
pitch of 20 degrees reads a yaw of 30 as 32); pitch itself is not measured, for want of photos
with a known pitch to check it on (FASSEG V3 has tilt 0 throughout; the Face Synthetics sample
gives 2-D landmarks only).

`pose_method` says what the yaw was read from: "points", "map" (no points, or points holding NaN) or
"none" (no points and no two eyes on the map). Roll is the map's eye line wherever the map has two
eyes (see `COLUMNS`' note), the points' otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from faceparse.profile.frame import Frame, run_edges
from faceparse.profile.measures import Measure
from faceparse.profile.view import FaceView

# D / H of the points: fitted by least squares (offset / height = c sin(pan), |pan| <= 60) on the
# detector's points of FASSEG V3 train (Pointing'04 photos, 7 people x 2 sessions x 13 pans from
# -90 to +90 in steps of 15, tilt 0): 0.453 on all, 0.446 and 0.462 on either half of the people.
NOSE_DEPTH = 0.453
# The map has no nose tip: the nose's blob, from the bridge to the nostrils, moves less than the tip
# (its centroid's offset over the eye-to-mouth height is 0.136 sin(pan) on FASSEG V3); and the face's
# outline on the eye line, seen from the eyes' midpoint, grows lopsided as the head turns (the
# nearer side's share minus the farther side's is 0.55 sin(pan) there, as for a round head whose
# outline the map cuts at the hair and ears). The map's yaw is asin of the two estimates' mean.
MAP_NOSE_DEPTH = 0.136
MAP_OUTLINE = 0.55
# Beyond 50 degrees a turn is not read: from 60 degrees on, the far eye and mouth corner hide behind
# the nose and cheek, the detector puts them on the near edge of what is left, and the measured yaw
# stays near 55 whatever the true turn (means of 54-62 for true 60, 75 and 90 on FASSEG V3).
MAX_YAW = 50.0
# The same hiding pulls the detector's eyes together: where they are closer than this x the
# eye-to-mouth height the head is turned beyond the range too, whatever the nose says (on FASSEG V3
# frontal faces: 0.83-1.00, London's 80: from 0.83; below 0.6: 52 of 56 faces at 75 or 90 degrees,
# 14 of 28 at 60, 4 of 28 at 45, none nearer to frontal). With MAX_YAW, 55 of the 56 go unread.
MIN_EYE_SPREAD = 0.6

# Roll is read off the map's eye line (`Frame.angle`, the eye blobs' centroids) wherever the map has
# two eyes, the detector's eye points only where it has not: on the 40 Canada photos, which their
# lab aligned on the pupils (the templates' pupils level to 0.2 degrees), the detector's eye points
# read -6 to +6 degrees (mean -2.5), the map's eye line agrees with the pupils to 0.2.
COLUMNS = ("yaw_deg", "roll_deg", "pose_method", "pose_flags")


def level(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The five points `(5, 2)` (`geometry.POINT_NAMES`, photo pixels, y down) turned about the
    eyes' midpoint so that the eye line is horizontal, that midpoint at (0, 0); and the roll, the
    eye line's angle in degrees from the subject's right eye (image-left) to the left (y down, as
    `frame.face_frame`'s eye_line_angle): positive when the subject's left eye is the lower, the head
    tilted towards the left shoulder (clockwise as seen)."""
    p = np.asarray(points, dtype=np.float64)
    dx, dy = p[1] - p[0]
    roll = math.atan2(dy, dx)
    c, s = math.cos(roll), math.sin(roll)
    rel = p - p[:2].mean(axis=0)
    return np.stack([rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c], axis=1), math.degrees(roll)


def yaw_from_turn(turn: float) -> tuple[float, list[str]]:
    """Yaw in degrees from the turn's sine (`turn` = sin(yaw) by the head model), and the flags:
    NaN, flagged `pose_beyond_range`, beyond asin's domain or MAX_YAW."""
    if not abs(turn) <= 1:
        return math.nan, ["pose_beyond_range"]
    yaw = math.degrees(math.asin(turn))
    if abs(yaw) > MAX_YAW:
        return math.nan, ["pose_beyond_range"]
    return yaw, []


def turn_from_points(points: np.ndarray) -> tuple[float, float, list[str]]:
    """sin(yaw) by the head model, from the five points, and the roll in degrees; NaN sine and a
    flag where the mouth corners do not lie below the eye line (`mouth_above_eyes`) or the eyes are
    closer than MIN_EYE_SPREAD x the eye-to-mouth height (`pose_beyond_range`). Yaw is positive
    when the head is turned towards the subject's own right: the nose tip moves to the image's left
    (FASSEG V3's, Pointing'04's, pan)."""
    p, roll = level(points)
    height = p[3:, 1].mean() - p[:2, 1].mean()
    if not height > 0:
        return math.nan, roll, ["mouth_above_eyes"]
    if p[1, 0] - p[0, 0] < MIN_EYE_SPREAD * height:
        return math.nan, roll, ["pose_beyond_range"]
    offset = p[2, 0] - (p[:2, 0].mean() + p[3:, 0].mean()) / 2
    return -offset / (NOSE_DEPTH * height), roll, []


def turn_from_frame(frame: Frame) -> tuple[float, list[str]]:
    """sin(yaw) from the face map in its eye-line frame (`MAP_NOSE_DEPTH`, `MAP_OUTLINE`): the mean
    of the nose blob's estimate and the outline's (either alone where the other is missing); NaN and
    the flags `no_mouth`, `no_nose`, `mouth_above_eyes` where neither can be read."""
    if not frame.mouth:
        return math.nan, ["no_mouth"]
    e0, e1 = frame.eyes
    mouth = frame.mouth[0]
    ex, ey = (e0.cx + e1.cx) / 2, (e0.cy + e1.cy) / 2
    height = mouth.cy - ey
    if not height > 0:
        return math.nan, ["mouth_above_eyes"]
    turns, flags = [], []
    if frame.nose:
        turns.append(-(frame.nose[0].cx - (ex + mouth.cx) / 2) / (MAP_NOSE_DEPTH * height))
    else:
        flags.append("no_nose")
    left, right = run_edges(frame.filled, np.array([int(round(ey))]), frame.mid)
    if not np.isnan(left[0]) and right[0] > left[0]:
        turns.append(((right[0] - ex) - (ex - left[0])) / (right[0] - left[0]) / MAP_OUTLINE)
    if not turns:
        return math.nan, flags
    return float(np.mean(turns)), flags


def _take(view: FaceView) -> tuple[dict, list[str]]:
    points = view.points
    if points is not None and np.shape(points) == (5, 2) and np.isfinite(points).all():
        turn, roll, flags = turn_from_points(points)
        method = "points"
        if view.frame is not None:  # the map's eye line is the better roll (see COLUMNS' note)
            roll = view.frame.angle
    elif view.frame is not None:
        turn, flags = turn_from_frame(view.frame)
        roll, method = view.frame.angle, "map"
    else:
        return {"pose_method": "none"}, list(view.frame_flags)
    yaw, more = yaw_from_turn(turn) if not math.isnan(turn) else (math.nan, [])
    return {"yaw_deg": yaw, "roll_deg": roll, "pose_method": method}, flags + more


MEASURE = Measure(
    "pose", "head pose: roll, the eye line's angle on the map (degrees, positive with the subject's left eye lower), and yaw, "
    "asin of the nose tip's offset from the midline of eyes and mouth corners over 0.453 x the eye-to-mouth height "
    "(positive turned to the subject's right; checked on FASSEG V3 / Pointing'04, Gourier et al. 2004), from the "
    "detector's five points, else from the face map",
    COLUMNS,
    {"no_eyes": "no points and the map has no eyes: no pose", "one_eye": "no points and the map has one eye: no pose",
     "mouth_above_eyes": "the mouth is not below the eye line: no yaw", "no_mouth": "map: no mouth, no yaw",
     "no_nose": "map: no nose, yaw from the outline alone",
     "pose_beyond_range": f"turned further than the model reads (|yaw| > {MAX_YAW:g} degrees, or the eyes closer "
     f"than {MIN_EYE_SPREAD:g} x the eye-to-mouth height): no yaw"},
    _take)
