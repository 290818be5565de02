"""Head pose (`faceparse.profile.pose`): a head built in 3-D by the stated model (nose tip 0.453 x
the eye-to-mouth height in front of the plane of eyes and mouth corners), turned and tilted by known
angles and projected, gives those angles back; numbers worked by hand; the map's fallback; flags."""

import math

import cv2
import numpy as np
import pytest

from faceparse.profile import measures
from faceparse.profile.frame import face_frame
from faceparse.profile.params import ProfileParams
from faceparse.profile.view import FaceView
from conftest import ellipse_face


def _head(yaw: float, roll: float, scale: float = 2.0, at=(300.0, 250.0)) -> np.ndarray:
    """The five points (right eye, left eye, nose tip, right and left mouth corner; the right eye on
    the image's left) of a head 60 units from eyes to mouth, its eyes 64 apart, mouth corners 50
    apart, nose tip 0.453 x 60 in front; turned by `yaw` (degrees, the nose to the image's left for
    a positive yaw) about a vertical axis, seen orthographically, tilted by `roll` (degrees, the
    image-right eye lower, y down), scaled and moved."""
    depth = 0.453 * 60
    head = np.array([(-32, 0, 0), (32, 0, 0), (0, 35, depth), (-25, 60, 0), (25, 60, 0)], float)  # x, y down, z out
    t, r = math.radians(yaw), math.radians(roll)
    x = head[:, 0] * math.cos(t) - head[:, 2] * math.sin(t)
    y = head[:, 1]
    xy = np.stack([x * math.cos(r) - y * math.sin(r), x * math.sin(r) + y * math.cos(r)], axis=1)
    return xy * scale + np.array(at)


def _face() -> tuple[np.ndarray, np.ndarray]:
    """`conftest.ellipse_face`: eyes 120 px apart at row 220, nose at column 256, mouth at row 370."""
    return ellipse_face()


def _view(labels: np.ndarray, points, image: np.ndarray | None = None) -> FaceView:
    params = ProfileParams()
    image = np.full(labels.shape + (3,), 128, np.uint8) if image is None else image
    frame, flags = face_frame(labels, None, params)
    from faceparse.facemap import FaceMap

    return FaceView(image, FaceMap.from_photo(labels), frame, params, None,
                    None if points is None else np.asarray(points, float), tuple(flags))


POSE = measures.get("pose")


def _eyeless() -> np.ndarray:
    """`_face`'s map with its eyes painted skin: no eye line on the map, so roll comes from the points."""
    _, labels = _face()
    labels[labels == 3] = 1
    return labels


@pytest.mark.parametrize("yaw, roll", [(0, 0), (20, 0), (-35, 10), (45, -15), (-10, 25)])
def test_a_head_turned_and_tilted_by_the_model_gives_its_angles_back(yaw, roll):
    labels = _eyeless()
    row = POSE(_view(labels, _head(yaw, roll)))
    assert row["pose_method"] == "points" and row["pose_flags"] == ""
    assert row["yaw_deg"] == pytest.approx(yaw, abs=1e-6)
    assert row["roll_deg"] == pytest.approx(roll, abs=1e-6)


def test_yaw_and_roll_worked_by_hand():
    labels = _eyeless()
    # Eyes (100, 100) and (160, 100): roll 0. Midline: eyes' midpoint x 130, mouth corners' 130.
    # The nose tip 10 px to the image's left of it, the mouth 60 px below the eye line:
    # sin(yaw) = 10 / (0.453 x 60) = 0.367918, yaw = 21.588 degrees (turned to the subject's right).
    pts = [(100, 100), (160, 100), (120, 130), (105, 160), (155, 160)]
    row = POSE(_view(labels, pts))
    assert row["yaw_deg"] == pytest.approx(21.588, abs=0.01) and row["roll_deg"] == pytest.approx(0.0, abs=1e-9)
    # The subject's left eye (image-right) 6 px lower over 60 px: roll = atan(6 / 60) = 5.711 degrees.
    tilted = [(100, 100), (160, 106), (130, 133), (105, 160), (155, 166)]
    assert POSE(_view(labels, tilted))["roll_deg"] == pytest.approx(5.711, abs=0.01)
    # Where the map has two eyes, roll is its eye line (here level), whatever the points say.
    _, level = _face()
    row = POSE(_view(level, tilted))
    assert row["roll_deg"] == pytest.approx(0.0, abs=1e-9) and row["pose_method"] == "points"


def test_turns_beyond_the_range_are_flagged_not_read():
    _, labels = _face()
    # Nose tip 25 px off over a 60 px height: sin = 25 / 27.18 = 0.92, 66.9 degrees > 50.
    far = POSE(_view(labels, [(100, 100), (160, 100), (105, 130), (105, 160), (155, 160)]))
    # 30 px off: sin = 1.10, beyond asin's domain.
    off = POSE(_view(labels, [(100, 100), (160, 100), (100, 130), (105, 160), (155, 160)]))
    # Eyes 30 px apart over a 60 px height (< 0.6 x 60): the far eye is hidden, whatever the nose.
    close = POSE(_view(labels, [(115, 100), (145, 100), (130, 130), (115, 160), (145, 160)]))
    for row in (far, off, close):
        assert math.isnan(row["yaw_deg"]) and row["pose_flags"] == "pose_beyond_range"
        assert row["roll_deg"] == pytest.approx(0.0, abs=1e-9)
    # 50 degrees sits on the edge and is still read.
    edge = POSE(_view(labels, _head(49.9, 0)))
    assert edge["yaw_deg"] == pytest.approx(49.9, abs=1e-6) and edge["pose_flags"] == ""


def test_mouth_above_the_eyes_gives_no_yaw():
    _, labels = _face()
    row = POSE(_view(labels, [(100, 100), (160, 100), (130, 90), (105, 60), (155, 60)]))
    assert math.isnan(row["yaw_deg"]) and row["pose_flags"] == "mouth_above_eyes"


def test_without_points_the_map_is_read():
    image, labels = _face()
    nan_points = np.full((5, 2), np.nan)
    for points in (None, nan_points):
        row = POSE(_view(labels, points, image))
        assert row["pose_method"] == "map" and row["pose_flags"] == ""
        assert row["yaw_deg"] == pytest.approx(0.0, abs=1.0) and row["roll_deg"] == pytest.approx(0.0, abs=0.1)
    # The nose moved 10 px to the image's left: its blob reads sin = 10 / (0.136 x 150) = 0.4902 (eyes
    # at row 220, mouth at 370); the outline, symmetric about the eyes, reads 0; their mean 0.2451
    # gives 14.19 degrees, turned to the subject's right.
    moved = labels.copy()
    moved[moved == 4] = 1
    cv2.ellipse(moved, (246, 290), (22, 45), 0, 0, 360, 4, -1)
    row = POSE(_view(moved, None, image))
    assert row["pose_method"] == "map" and row["yaw_deg"] == pytest.approx(14.19, abs=0.5)


def test_no_points_and_no_eyes_gives_nothing_and_says_why():
    image, labels = _face()
    no_eyes = labels.copy()
    no_eyes[no_eyes == 3] = 1
    row = POSE(_view(no_eyes, None, image))
    assert row["pose_method"] == "none" and math.isnan(row["yaw_deg"]) and math.isnan(row["roll_deg"])
    assert row["pose_flags"] == "no_eyes"
    one_eye = labels.copy()
    one_eye[:, :256][one_eye[:, :256] == 3] = 1
    assert POSE(_view(one_eye, None, image))["pose_flags"] == "one_eye"
    # Points make the map's eyes unnecessary.
    assert POSE(_view(no_eyes, _head(20, 5), image))["yaw_deg"] == pytest.approx(20, abs=1e-6)


def test_registry_columns_are_what_take_writes():
    _, labels = _face()
    values, flags = POSE.take(_view(labels, _head(10, 3)))
    assert POSE.columns == tuple(values) + ("pose_flags",)
    assert POSE.columns == ("yaw_deg", "roll_deg", "pose_method", "pose_flags")
    for flag in ("no_eyes", "one_eye", "mouth_above_eyes", "no_mouth", "no_nose", "pose_beyond_range"):
        assert flag in POSE.flags
