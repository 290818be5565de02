"""The training levers for photos from the wild: what each changes in a crop, and what it leaves."""

import numpy as np
import pandas as pd
import pytest

from faceparse.sampling import mix_order
from faceparse.errors import FaceparseConfigError
from faceparse.labels import IGNORE
from faceparse.augment import CropDataset
from faceparse.wild import camera_transform, occlude, replace_background, scene_plates, synthetic_background

S = 64


def face_crop() -> tuple[np.ndarray, np.ndarray]:
    """A grey studio backdrop (label 0) behind a skin disc (1) with hair on top (2) and an ignored corner."""
    yy, xx = np.mgrid[:S, :S]
    mask = np.zeros((S, S), np.uint8)
    mask[(yy - 34) ** 2 + (xx - 32) ** 2 < 18 ** 2] = 1
    mask[((yy - 26) ** 2 + (xx - 32) ** 2 < 20 ** 2) & (yy < 22)] = 2
    mask[:4, :4] = IGNORE
    image = np.full((S, S, 3), 200, np.uint8)
    image[mask == 1] = (190, 140, 120)
    image[mask == 2] = (40, 30, 20)
    return image, mask


def test_background_replacement_changes_only_background_and_ignores_the_outline():
    image, mask = face_crop()
    plate = np.zeros((S, S, 3), np.uint8)
    plate[..., 2] = 255
    out, new = replace_background(image, mask, plate, edge_ignore=2)
    bg, face = mask == 0, (mask == 1) | (mask == 2)
    assert (out[bg] == plate[bg]).all() and (out[face] == image[face]).all()
    assert (out[mask == IGNORE] == image[mask == IGNORE]).all()
    changed = new != mask
    assert (new[changed] == IGNORE).all() and changed.any()         # only the outline band becomes 255
    band = np.argwhere(changed)
    # the band hugs the outline: every changed pixel is within 2 px (a square's diagonal) of the other side
    from scipy.ndimage import distance_transform_edt
    reach = 2 * 2 ** 0.5 + 1e-9
    assert distance_transform_edt(~face)[changed & bg].max() <= reach
    assert distance_transform_edt(face)[changed & face].max() <= reach
    assert len(band) < 0.25 * S * S


def test_scene_plates_hold_no_person():
    image, mask = face_crop()
    image[mask == 0] = (10, 120, 10)                                # a green scene behind the person
    plate = scene_plates(image[None], mask[None])[0]
    assert (plate[mask == 0][:, 1] == 120).all() or np.abs(plate[mask == 0].astype(int) - (10, 120, 10)).max() <= 10
    inside = plate[mask == 1].astype(int)
    assert np.abs(inside - (10, 120, 10)).mean() < 30              # the person is filled with the scene's colour


def test_synthetic_backgrounds_are_seeded_and_of_every_kind():
    a = [synthetic_background(np.random.default_rng(s), S) for s in range(12)]
    b = [synthetic_background(np.random.default_rng(s), S) for s in range(12)]
    assert all((x == y).all() for x, y in zip(a, b))
    assert all(x.shape == (S, S, 3) and x.dtype == np.uint8 for x in a)
    assert len({round(float(x.std()), 1) for x in a}) > 3             # flat, gradients, noise and textures differ


def test_occluders_label_only_background_or_ignore():
    image, mask = face_crop()
    for seed in range(40):
        out, new = occlude(image, mask, np.random.default_rng(seed))
        changed = new != mask
        assert set(np.unique(new[changed]).tolist()) <= {0, IGNORE}
        assert (out[~changed & (mask != 0)] == image[~changed & (mask != 0)]).all()


def test_camera_lever_keeps_shape_and_moves_pixels():
    image, _ = face_crop()
    cam = camera_transform()
    cam.set_random_seed(0)
    outs = [cam(image=image)["image"] for _ in range(8)]
    assert all(o.shape == image.shape and o.dtype == np.uint8 for o in outs)
    assert np.mean([np.abs(o.astype(int) - image).mean() for o in outs]) > 3


def test_crop_dataset_applies_levers_and_refuses_unknown_keys():
    image, mask = face_crop()
    images, masks = np.stack([image] * 4), np.stack([mask] * 4)
    plain = CropDataset(images, masks, "fasseg6", augment={"flip": 0, "scale": 0, "rotate": 0, "shift": 0,
                                                           "perspective": 0, "colour": 0, "blur": 0, "noise": 0})
    plain.seed(0)
    levers = CropDataset(images, masks, "fasseg6", augment={"flip": 0, "scale": 0, "rotate": 0, "shift": 0,
                                                            "perspective": 0, "colour": 0, "blur": 0, "noise": 0,
                                                            "background": 1.0, "edge_ignore": 1})
    levers.seed(0)
    _, y_plain = plain[0]
    _, y_levers = levers[0]
    assert (y_plain.numpy() == mask).all() or (y_plain.numpy() != mask).sum() < 0.05 * S * S  # Affine p=0.9 at 0 range
    assert (y_levers.numpy() == IGNORE).sum() > (y_plain.numpy() == IGNORE).sum()   # the outline band
    with pytest.raises(FaceparseConfigError, match="unknown keys \\['backgruond'\\]"):
        CropDataset(images, masks, "fasseg6", augment={"backgruond": 1.0})


def test_adapter_refuses_levers_that_change_the_photo():
    from faceparse.adapter import AdaptParams

    with pytest.raises(FaceparseConfigError, match="background"):
        AdaptParams(augment={"background": 0.5})
    AdaptParams(augment={"flip": 0.5})


def test_mix_order_gives_each_dataset_its_share():
    rows = pd.DataFrame({"dataset": ["fasseg"] * 60 + ["facesynthetics_100"] * 20})
    order = mix_order(rows, {"facesynthetics_100": 0.4}, seed=0)
    picked = rows["dataset"].to_numpy()[order]
    assert (picked == "fasseg").sum() == 60 and (picked == "facesynthetics_100").sum() == 40
    fs = order[picked == "facesynthetics_100"]
    assert set(fs[:20]) == set(range(60, 80))                       # each row once before any twice
    assert (mix_order(rows, {"facesynthetics_100": 0.4}, seed=0) == order).all()
    assert (mix_order(rows, {}) == np.arange(80)).all()
    with pytest.raises(FaceparseConfigError, match="no training photos of \\['lapa'\\]"):
        mix_order(rows, {"lapa": 0.2})
    with pytest.raises(FaceparseConfigError, match="sum below 1"):
        mix_order(rows, {"facesynthetics_100": 1.0})
    with pytest.raises(FaceparseConfigError, match="less than one crop"):
        mix_order(rows, {"facesynthetics_100": 0.001})
