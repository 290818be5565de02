"""A small labelled check set from the London face set's hand-placed WebMorph templates: each
photo's FRL 189-point template filled, contour by contour, into a `fasseg6` label map, to score
face parsing on 40 people of varied skin tone under a camera the study never trained on.

What the template cannot say is 255 (ignore): everything outside the face outline (hair,
background, ears, neck), the forehead above the brows (the templates' hairline is drawn under
fringes), the lip opening, and a band along every region boundary, since hand-placed contours
are not pixel-exact. Background is never labelled. Only photos with a `.tem` beside them are labelled (in
the London mirror: the neutral ones; the smiling photos have none).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceparse.datasets.base import IMAGE_SUFFIXES
from faceparse.errors import FaceparseDataError
from faceparse.labels import IGNORE, get_label_set
from faceparse.profile.landmarks import read_tem

# Contours of the FRL 189-point template, as closed polygons in drawing order. Verified by drawing
# every point index and every contour line of the `.tem` files (identical on all 40 London
# templates) on London photos and looking at them, then by looking at the filled masks over the
# photos. "Left" here is the IMAGE's left.
# - Eye openings: upper lid 18-22 / 23-27 (the .tem lines 18..22 and 23..27), lower lid back along
#   the lines 18 28 29 30 22 / 23 31 32 33 27. (34-38 / 39-43 are the lid creases, 2-9 / 10-17 the
#   irises: not used.)
# - Brows: upper edge 71-76 / 77-82, lower edge back along 71 83 84 76 / 77 85 86 82.
# - Lips: upper lip's outer edge 87 88-92 93, lower lip's outer edge back along 87 104-108 93; the
#   opening between them is bounded by the upper lip's lower edge 87 94-98 93 and the lower lip's
#   upper edge 87 99-103 93.
# - Nose: the bridge's sides 50-53 / 56-59 (50 / 56 between the eyes, at the lids' height), then
#   each ala's outer outline 61 62 63 64 / 66 67 68 69 down to its base, and across the nostrils
#   to 55 under the tip (the columella's base). The .tem lines go on from 64 / 69 up to the
#   nostril's top (65 179 180 / 70 182 181) before 55: following them would cut the nostrils out
#   of the nose, which FASSEG paints as nose. (54 / 60 are shading lines on the tip, inside;
#   170-175 the philtrum, 158-163 the nasolabial folds.)
# - Face outline: 109 185 110 186 111 down the image-left cheek in front of the ear (115-119 is
#   the ear), 125 126-132 133 along the jaw and chin, 114 188 113 187 112 up the image-right cheek,
#   and across the forehead along the hairline 144..134 back to 109 (145-157 is the outer outline
#   of the head's hair, not used). The templaters drew the hairline where a hairline would be even
#   under a fringe (London 003) or hair over the forehead (045), so by default the forehead stops
#   at the brows' top edges 71-76 and 77-82: above them is 255.
# Pupils 0 (image-left) and 1 give the eye line, along which that top edge is extended.
FRL_EYES = ((18, 19, 20, 21, 22, 30, 29, 28), (23, 24, 25, 26, 27, 33, 32, 31))
FRL_BROWS = ((71, 72, 73, 74, 75, 76, 84, 83), (77, 78, 79, 80, 81, 82, 86, 85))
FRL_LIPS = (87, 88, 89, 90, 91, 92, 93, 108, 107, 106, 105, 104)
FRL_LIP_OPENING = (87, 94, 95, 96, 97, 98, 93, 103, 102, 101, 100, 99)
FRL_NOSE = (50, 51, 52, 53, 61, 62, 63, 64, 55, 69, 68, 67, 66, 59, 58, 57, 56)
FRL_FACE = (109, 185, 110, 186, 111, 125, 126, 127, 128, 129, 130, 131, 132, 133, 114, 188, 113, 187, 112,
            144, 143, 142, 141, 140, 139, 138, 137, 136, 135, 134)
FRL_BROW_TOPS = (71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82)  # image-left to image-right
FRL_PUPILS = (0, 1)
FRL_POINTS = 189

_SHIFT = 4  # fixed-point bits for cv2's polygon filling: sub-pixel template coordinates


def _fill(labels: np.ndarray, points: np.ndarray, polygon: tuple[int, ...], value: int) -> None:
    """Fill the closed polygon through `points[polygon]` with `value`, in place."""
    q = np.round(points[list(polygon)] * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(labels, [q], int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def above_brows(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`(H, W) bool`: the part of the photo above the brows' top edges, that line extended
    along the eye line past both sides of the photo."""
    pts = np.asarray(points, dtype=np.float64)
    along = pts[FRL_PUPILS[1]] - pts[FRL_PUPILS[0]]
    along /= max(float(np.hypot(*along)), 1e-9)
    up = np.array([along[1], -along[0]])  # image y grows downwards
    far = 2.0 * max(shape)
    top = pts[list(FRL_BROW_TOPS)]
    left, right = top[0] - far * along, top[-1] + far * along
    polygon = np.vstack([left, top, right, right + far * up, left + far * up])
    region = np.zeros(shape, np.uint8)
    _fill(region, polygon, tuple(range(len(polygon))), 1)
    return region.astype(bool)


def boundary_band(labels: np.ndarray, band: int) -> np.ndarray:
    """`(H, W) bool`: pixels within `band` px (chessboard distance) of a pixel with another label."""
    if band <= 0:
        return np.zeros(labels.shape, bool)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    return cv2.dilate(labels, kernel) != cv2.erode(labels, kernel)


def rasterise_frl(points: np.ndarray, shape: tuple[int, int], band: int = 2,
                  hairline: bool = False) -> np.ndarray:
    """FRL 189-point template points `(189, 2)` (x, y) -> `(H, W) uint8` fasseg6 label map.

    Inside the face outline is skin, up to the brows' top edges (`hairline`: up to the template's
    hairline); brows (hair), eyes, nose and lips (mouth) are drawn over it; outside the outline,
    above the forehead's top and the lip opening are 255; so is every pixel within `band` px of a
    boundary between two of these regions."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (FRL_POINTS, 2):
        raise ValueError(f"expected FRL template points ({FRL_POINTS}, 2), found {pts.shape}")
    fasseg = get_label_set("fasseg6")
    labels = np.full(shape, IGNORE, np.uint8)
    _fill(labels, pts, FRL_FACE, fasseg.index("skin"))
    if not hairline:
        labels[above_brows(pts, shape)] = IGNORE
    for brow in FRL_BROWS:
        _fill(labels, pts, brow, fasseg.index("hair"))
    for eye in FRL_EYES:
        _fill(labels, pts, eye, fasseg.index("eyes"))
    _fill(labels, pts, FRL_NOSE, fasseg.index("nose"))
    _fill(labels, pts, FRL_LIPS, fasseg.index("mouth"))
    _fill(labels, pts, FRL_LIP_OPENING, IGNORE)  # teeth, tongue or a dark gap: not lips
    labels[boundary_band(labels, band)] = IGNORE
    return labels


def _stored_shape(photo: Path) -> tuple[int, int]:
    """`(H, W)` of the photo as stored, which its template's pixels refer to; a photo that EXIF
    would turn raises (which way its template points is not known)."""
    try:
        with Image.open(photo) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except OSError as err:
        raise FaceparseDataError(photo, f"cannot read the photo's header ({err})") from None
    if orientation != 1:
        raise FaceparseDataError(photo, f"EXIF orientation {orientation}: the template's frame is ambiguous")
    return h, w


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def build_london_check(london_dir: Path, out_dir: Path) -> int:
    """For every London photo with a `.tem` beside it (in `<expression>/` folders), write
    `out_dir/images/<expression>_<stem>.<ext>` (a hard link, else a copy, of the photo; the
    expression is the folder's name less "_front") and
    `out_dir/masks/<expression>_<stem>.png` (its fasseg6 label map): the `folder` reader's layout.
    Returns the number of photos labelled."""
    london_dir, out_dir = Path(london_dir), Path(out_dir)
    images, masks = out_dir / "images", out_dir / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    count = 0
    for photo in sorted(london_dir.glob("*/*")):
        tem = photo.with_suffix(".tem")
        if photo.suffix.lower() not in IMAGE_SUFFIXES or not tem.is_file():
            continue
        points = read_tem(tem)
        if points.shape != (FRL_POINTS, 2):
            raise FaceparseDataError(tem, f"expected the FRL template's {FRL_POINTS} points, found {len(points)}")
        name = f"{photo.parent.name.removesuffix('_front')}_{photo.stem}"
        mask = rasterise_frl(points, _stored_shape(photo))
        _link_or_copy(photo, images / f"{name}{photo.suffix}")
        if not cv2.imwrite(str(masks / f"{name}.png"), mask):
            raise FaceparseDataError(masks / f"{name}.png", "cannot write mask")
        count += 1
    return count
