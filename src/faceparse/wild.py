"""Training levers for photos from the wild, each off unless its `augment` probability says otherwise:

- `background`: the face is composited through its mask onto a background that holds no face: a
  real scene (a FaceSynthetics crop with its head filled in from the scene around it; clothes and
  hats stay, as fasseg6 labels them background, so a torso can sit below the new face), a flat
  colour, noise, or a blurred texture. The `edge_ignore` pixels either side of the face's outline
  become 255, since a hair edge cut from a studio backdrop is not an honest edge on a new scene.
- `camera`: what cameras other than a studio's do: colour temperature and white balance, gamma and
  exposure, low light with noise, blur, down-and-up sampling to webcam size, JPEG quality 30-95,
  greyscale.
- `occlusion`: things in front of the face: hands and objects (filled polygons and ellipses, from
  scene texture or flat colour, labelled background, as in-the-wild truth labels them), a headset
  band over the head (background), glasses frames (255: the study's fasseg6 tables ignore what
  glasses cover) and cut-outs of noise (255).

Every lever changes the photo; labels change only to background or 255, never to another face class.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from faceparse.labels import IGNORE

BACKGROUND = 0
LEVERS = ("background", "camera", "occlusion")


def scene_plates(images: np.ndarray, labels: np.ndarray, work: int = 96) -> np.ndarray:
    """`(N, S, S, 3) uint8` backgrounds without a person: each crop's non-background pixels (and a
    margin) filled by inpainting from the scene around them, at `work` pixels then scaled back, so
    the fill is smooth scene colour rather than a face."""
    out = np.empty_like(images)
    s = images.shape[1]
    for i, (image, label) in enumerate(zip(images, labels)):
        person = (label != BACKGROUND).astype(np.uint8)
        person = cv2.dilate(person, np.ones((9, 9), np.uint8))
        small = cv2.resize(image, (work, work), interpolation=cv2.INTER_AREA)
        hole = cv2.resize(person, (work, work), interpolation=cv2.INTER_NEAREST)
        filled = cv2.inpaint(small, hole, 5, cv2.INPAINT_TELEA)
        big = cv2.resize(filled, (s, s), interpolation=cv2.INTER_LINEAR)
        out[i] = np.where(person[..., None] > 0, big, image)
    return out


def synthetic_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A flat colour, a colour gradient, coloured noise or a blurred random texture."""
    kind = rng.integers(4)
    if kind == 0:
        return np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (size, size, 3)).copy()
    if kind == 1:
        a, b = rng.integers(0, 256, (2, 3)).astype(np.float32)
        t = np.linspace(0, 1, size, dtype=np.float32)
        t = t[None, :, None] if rng.random() < 0.5 else t[:, None, None]
        return np.broadcast_to(a + (b - a) * t, (size, size, 3)).astype(np.uint8)
    if kind == 2:
        return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    cells = int(rng.integers(4, 33))
    texture = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    texture = cv2.resize(texture, (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(texture, (0, 0), float(rng.uniform(1, 6)))


def replace_background(image: np.ndarray, mask: np.ndarray, plate: np.ndarray, edge_ignore: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The photo with its background pixels taken from `plate`, and its mask with the outline band
    (`edge_ignore` pixels either side) set to 255. Pixels labelled 255 keep their photo."""
    bg = mask == BACKGROUND
    out = np.where(bg[..., None], plate, image)
    if edge_ignore > 0:
        k = np.ones((2 * edge_ignore + 1, 2 * edge_ignore + 1), np.uint8)
        fg = (~bg & (mask != IGNORE)).astype(np.uint8)
        band = (cv2.dilate(fg, k) > 0) & (cv2.erode(fg, k) == 0)
        mask = np.where(band, IGNORE, mask).astype(mask.dtype)
    return out, mask


def camera_transform() -> A.Compose:
    """The camera lever: every step optional, so their mixes vary."""
    return A.Compose([
        A.OneOf([A.PlanckianJitter(mode="blackbody"),
                 A.MultiplicativeNoise(multiplier=(0.75, 1.25), per_channel=True, elementwise=False)], p=0.6),
        A.OneOf([A.RandomGamma(gamma_limit=(50, 180)),
                 A.RandomBrightnessContrast(brightness_limit=(-0.45, 0.3), contrast_limit=(-0.4, 0.3))], p=0.7),
        A.OneOf([A.GaussNoise(std_range=(0.02, 0.12)), A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.2, 0.8))],
                p=0.4),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 7)), A.MotionBlur(blur_limit=(3, 9)), A.Defocus(radius=(2, 4))], p=0.3),
        A.Downscale(scale_range=(0.3, 0.7), interpolation_pair={"downscale": cv2.INTER_AREA,
                                                               "upscale": cv2.INTER_LINEAR}, p=0.3),
        A.ImageCompression(quality_range=(30, 95), p=0.6),
        A.ToGray(p=0.08),
    ])


def occlude(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, plate: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """One or two occluders drawn over the face (see the module note for their labels)."""
    image, mask = image.copy(), mask.copy()
    s = image.shape[0]
    for _ in range(int(rng.integers(1, 3))):
        kind = rng.choice(["object", "band", "glasses", "cutout"], p=[0.45, 0.15, 0.2, 0.2])
        shape = np.zeros((s, s), np.uint8)
        label = BACKGROUND
        if kind == "object":           # a hand, a cup, a microphone: a blob entering from an edge or over the face
            c = rng.uniform(0.25, 0.85, 2) * s
            if rng.random() < 0.5:
                axes = (int(rng.uniform(0.08, 0.25) * s), int(rng.uniform(0.08, 0.25) * s))
                cv2.ellipse(shape, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            else:
                n = int(rng.integers(4, 8))
                angles = np.sort(rng.uniform(0, 2 * np.pi, n))
                radii = rng.uniform(0.06, 0.22, n) * s
                pts = np.stack([c[0] + radii * np.cos(angles), c[1] + radii * np.sin(angles)], 1)
                cv2.fillPoly(shape, [pts.astype(np.int32)], 1)
        elif kind == "band":           # a headset band over the top of the head
            y = int(rng.uniform(0.05, 0.3) * s)
            cv2.ellipse(shape, (s // 2, y + s // 3), (int(0.32 * s), s // 3), 0, 180, 360, 1,
                        int(rng.uniform(0.03, 0.07) * s))
        elif kind == "glasses":        # frames round the eyes and a bridge: truth ignores what glasses cover
            label = IGNORE
            y, r, gap = int(rng.uniform(0.38, 0.5) * s), int(rng.uniform(0.07, 0.11) * s), int(0.12 * s)
            t = max(1, int(rng.uniform(0.008, 0.02) * s))
            for x in (s // 2 - gap - r // 2, s // 2 + gap + r // 2):
                cv2.ellipse(shape, (x, y), (r, int(r * 0.75)), 0, 0, 360, 1, t)
            cv2.line(shape, (s // 2 - gap + r // 2, y), (s // 2 + gap - r // 2, y), 1, t)
        else:                          # a cut-out of noise: nobody knows what is beneath
            label = IGNORE
            w, h = (rng.uniform(0.08, 0.25, 2) * s).astype(int)
            x, y = rng.integers(0, s - w), rng.integers(0, s - h)
            shape[y:y + h, x:x + w] = 1
        region = shape > 0
        if kind == "cutout":
            fill = rng.integers(0, 256, image.shape, dtype=np.uint8)
        elif plate is not None and rng.random() < 0.5:
            fill = np.roll(plate, tuple(rng.integers(0, s, 2)), axis=(0, 1))
        else:
            fill = np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), image.shape)
        image[region] = fill[region]
        mask[region] = label
    return image, mask
