"""Skin colour of one face on its original photo: three square patches (both cheeks, forehead)
placed from the face map, their CIE L*a*b* and ITA, and a robust median over all predicted skin.

Sides are named by the SUBJECT: `cheek_left` is the person's own left cheek, which appears on the
image's right in a frontal photo (the convention `labels.LabelSet.side == "subject"` documents).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from faceparse.profile.colour import ita, ita_category, mean_lab
from faceparse.facemap import FaceMap
from faceparse.profile.correct import Correction
from faceparse.profile.frame import NOSE, SKIN, Blob, Frame, face_frame, mask_box, run_edges
from faceparse.profile.params import ProfileParams
from faceparse.profile.measures import Measure
from faceparse.profile.view import FaceView, unclipped_bytes

PATCH_NAMES = ("cheek_left", "cheek_right", "forehead")  # subject's left/right


@dataclass(frozen=True)
class SkinPatch:
    """One square patch on the original photo, measured over its predicted-skin pixels."""

    name: str
    x: float = math.nan                # patch centre, original-photo pixels
    y: float = math.nan
    size_px: int = 0                   # side of the square
    n_skin: int = 0                    # skin pixels inside the square (clipped ones included)
    skin_share: float = math.nan       # n_skin / size_px^2
    clipped_share: float = math.nan    # share of those skin pixels with a channel <= clip_low or >= clip_high
    confidence: float = math.nan       # mean max-softmax over the skin pixels (NaN: no confidence map)
    lab: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # mean colour, clipped pixels excluded
    ita: float = math.nan

    def as_row(self) -> dict[str, float | int]:
        p = self.name
        return {f"{p}_x": self.x, f"{p}_y": self.y, f"{p}_size_px": self.size_px, f"{p}_n_skin": self.n_skin,
                f"{p}_skin_share": self.skin_share, f"{p}_clipped_share": self.clipped_share,
                f"{p}_confidence": self.confidence, f"{p}_L": self.lab[0], f"{p}_a": self.lab[1],
                f"{p}_b": self.lab[2], f"{p}_ita": self.ita}


@dataclass(frozen=True)
class SkinProfile:
    """Skin colour of one face: three patches, their cheek mean, and the whole-skin robust median."""

    patches: tuple[SkinPatch, ...]
    cheeks_lab: tuple[float, float, float]      # both cheeks' valid pixels pooled, then averaged
    cheeks_ita: float
    skin_median_lab: tuple[float, float, float]  # per-channel median over the rule-filtered skin
    skin_ita: float
    skin_n_used: int                            # skin pixels left after the exclusion rule
    eye_line_angle: float                       # degrees, atan2 of image-left -> image-right eye
    inter_ocular_px: float
    averaging: str
    flags: tuple[str, ...]
    correction: str = "none"                    # the row's colour_correction (none, chart:<file>, chart:auto, sclera)

    def as_row(self) -> dict[str, float | int | str]:
        row: dict[str, float | int | str] = {"eye_line_angle_deg": self.eye_line_angle,
                                             "inter_ocular_px": self.inter_ocular_px}
        for p in self.patches:
            row.update(p.as_row())
        row.update({"cheeks_L": self.cheeks_lab[0], "cheeks_a": self.cheeks_lab[1], "cheeks_b": self.cheeks_lab[2],
                    "cheeks_ita": self.cheeks_ita, "cheeks_ita_category": ita_category(self.cheeks_ita),
                    "skin_median_L": self.skin_median_lab[0], "skin_median_a": self.skin_median_lab[1],
                    "skin_median_b": self.skin_median_lab[2], "skin_ita": self.skin_ita,
                    "skin_ita_category": ita_category(self.skin_ita), "skin_n_used": self.skin_n_used,
                    "averaging": self.averaging, "colour_correction": self.correction,
                    "skin_flags": ";".join(self.flags)})
        return row


def _cheek_centre(frame: Frame, face: np.ndarray, side: int, nose: Blob, mouth: Blob) -> tuple[float, float] | None:
    """Cheek centre in frame pixels for the image-left (side 0) or image-right (side 1) cheek:
    halfway down from the eye's lower edge to the mouth's top, halfway across from the nose's side
    to the face's edge on that row (`face`: `filled_face` of the frame). An ear joined to the cheek
    on that row moves the centre outward by half the ear's width, still on the cheek."""
    eye = frame.eyes[side]
    row = int(round((eye.bottom + mouth.top) / 2))
    left, right = run_edges(face, np.array([row]), frame.mid)
    if np.isnan(left[0]):
        return None
    nose_cols = np.flatnonzero(frame.labels[row] == NOSE)
    nose_cols = nose_cols[(nose_cols >= left[0]) & (nose_cols <= right[0])]
    if side == 0:
        nose_side = nose_cols.min() if nose_cols.size else nose.left  # nostril wing when the row misses the nose
        return (left[0] + nose_side) / 2, float(row)
    nose_side = nose_cols.max() if nose_cols.size else nose.right
    return (right[0] + nose_side) / 2, float(row)


def _forehead_centre(frame: Frame, size: int) -> tuple[float, float] | None:
    """Halfway up from the eyes' top to the top of the skin above the glabella (median over a band
    of columns one patch wide on the midline, so one stray hair pixel does not decide); None when
    the eyes touch the frame's top edge and no forehead is in view."""
    eyes_top = min(e.top for e in frame.eyes)
    c0 = max(frame.mid - size // 2, 0)
    c1 = min(frame.mid + size // 2 + 1, frame.labels.shape[1])
    above = np.isin(frame.labels[:eyes_top, c0:c1], (SKIN, NOSE))[::-1]
    if above.size == 0:
        return None
    # Rows from the eyes' top upward that are still skin (or the nose bridge); image top stops it.
    run = np.where((~above).any(axis=0), (~above).argmax(axis=0), eyes_top)
    skin_top = eyes_top - float(np.median(run))
    return float(frame.mid), (eyes_top + skin_top) / 2


def _measure_patch(name: str, view: FaceView, x: float, y: float, size: int) -> tuple[SkinPatch, np.ndarray]:
    """The patch record and its valid (unclipped skin) pixels in linear light `(N, 3) float64`
    (through the view's correction when there is one; clipping is judged on the pixels as taken)."""
    (ys, xs), skin = view.square_skin(x, y, size)
    pix = view.image[ys, xs][skin]
    unclipped = view.unclipped(pix)
    valid = view.linear(pix[unclipped])
    lab = mean_lab(valid, view.params.averaging)
    n = int(np.count_nonzero(skin))
    face = view.face
    conf = float(face.confidence[face.local(ys, xs)][skin].mean()) if face.confidence is not None and n else math.nan
    patch = SkinPatch(name=name, x=x, y=y, size_px=size, n_skin=n, skin_share=n / size**2,
                      clipped_share=float((~unclipped).mean()) if n else math.nan, confidence=conf,
                      lab=tuple(float(v) for v in lab), ita=ita(lab[0], lab[2]))
    return patch, valid


def _patch_flags(p: SkinPatch, params: ProfileParams, n_valid: int) -> list[str]:
    """The patch's quality flags; `n_valid`: its unclipped skin pixels, the ones its colour is read from."""
    flags = []
    if n_valid < params.min_patch_pixels:
        flags.append(f"{p.name}_small")
    if not p.skin_share >= params.min_skin_share:
        flags.append(f"{p.name}_nonskin")
    if p.clipped_share > params.max_clipped_share:
        flags.append(f"{p.name}_clipped")
    if p.confidence < params.min_confidence:  # False for NaN: no confidence map, no flag
        flags.append(f"{p.name}_low_confidence")
    return flags


def _skin_median(view: FaceView) -> tuple[np.ndarray, int]:
    """Per-channel median L*a*b* of the face's skin (`FaceView.face_skin`) after the exclusion rule,
    and the pixels used.

    Rule: drop skin pixels with any channel <= clip_low or >= clip_high (clipped: no colour
    information), then drop those whose L* lies outside the skin_percentiles (default 5th-95th) of
    the remaining skin's L* (specular highlights above, shadow in folds, nostrils, under the jaw below).
    The view's correction applies to the pixels kept; clipping is judged on the pixels as taken.

    Read colour by colour (`colour_counts`: a London face's 220 000 skin pixels hold about 14 000
    colours), each colour's L*a*b* computed once, in half the time: the percentiles and medians are
    those of the pixels, to the last bit where colours are read through byte tables (no correction,
    or a matrix one). A polynomial correction's matrix products go through BLAS, which may round a
    last bit otherwise for another number of rows, as it may on another machine.
    """
    params = view.params
    skin = view.face_skin
    box = mask_box(skin)
    if box is None:
        return np.full(3, np.nan), 0
    r, g, b, counts = colour_counts(view.window[box], skin[box])
    ok = unclipped_bytes(params.clip_low, params.clip_high)
    use = ok.take(r) & ok.take(g) & ok.take(b)
    if not use.any():
        return np.full(3, np.nan), 0
    counts = counts[use]
    lab = view.lab_channels(r[use], g[use], b[use])  # `srgb_to_lab`'s path for 8-bit colours, channels apart
    lo, hi = np.percentile(np.repeat(lab[0], counts), params.skin_percentiles, overwrite_input=True)
    keep = (lab[0] >= lo) & (lab[0] <= hi)
    if not keep.any():  # two pixels far apart: none between the percentiles
        return np.full(3, np.nan), 0
    return np.array([counted_median(c[keep], counts[keep]) for c in lab]), int(counts[keep].sum())


def colour_counts(window: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct colours of a `(h, w, 3) uint8` window's pixels under a `(h, w) bool` mask, as
    their red, green and blue bytes (`(M,) uint8` each), and how many pixels have each colour."""
    packed = cv2.cvtColor(window, cv2.COLOR_RGB2RGBA).view(np.uint32)[..., 0]  # one 32-bit word a pixel
    colours, counts = np.unique(packed[mask], return_counts=True)
    r, g, b = (colours.view(np.uint8).reshape(-1, 4)[:, c] for c in range(3))  # the bytes as laid out
    return r, g, b, counts


def counted_median(values: np.ndarray, counts: np.ndarray) -> float:
    """`np.median` of `values[i]` taken `counts[i]` times (`np.repeat(values, counts)`), to the last
    bit: the mean of its middle one or two, found on the running count (`counts` > 0, not all empty)."""
    order = np.argsort(values)
    ends = np.cumsum(counts[order])  # how many are at or below each value, in order
    n = int(ends[-1])
    middle = np.searchsorted(ends, [(n - 1) // 2, n // 2], side="right")  # 0-based ranks of the middle
    return float(np.median(values[order][middle]))  # the mean of x and x is x, to the last bit


def as_face_map(image: np.ndarray, labels: np.ndarray | FaceMap, confidence: np.ndarray | None = None) -> FaceMap:
    """A photo's face map as its `FaceMap` (a whole-photo map and its confidence are trimmed to the
    face's window), checked against the photo."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 sRGB photo, found {image.dtype} {image.shape}")
    if isinstance(labels, FaceMap):
        if confidence is not None:
            raise ValueError("a FaceMap carries its own confidence; give confidence=None with it")
        if tuple(labels.photo_shape) != image.shape[:2]:
            raise ValueError(f"face map of a {labels.photo_shape} photo, but the photo is {image.shape[:2]}")
        return labels
    labels = np.asarray(labels)
    if labels.shape != image.shape[:2] or labels.dtype != np.uint8:
        raise ValueError(f"expected a (H, W) uint8 label map of the photo's size {image.shape[:2]}, "
                         f"found {labels.dtype} {labels.shape}")
    return FaceMap.from_photo(labels, confidence)


def _inside_outline(face: np.ndarray, x: float, y: float, size: int, margin: float, towards: float) -> float | None:
    """The column nearest `x`, moving towards column `towards`, at which the square of side `size`
    centred on (column, `y`) keeps `margin` pixels from the face's outline `face` (`Frame.filled`, or
    its transpose to move down a column instead): every pixel of it at least that far from a pixel
    outside the face, beyond the map's edge counting as outside; None when no column up to `towards`
    does.

    The distances are read on the squares' rows and the columns they may take, and `margin` and a
    pixel more around them: a pixel nearer than `margin` to the outside has its nearest outside pixel
    there, so it has the distance the whole map gives it; a pixel not so near is not so near there
    either (the edge of what is read is further off). A tenth of the whole map's distances per square.
    """
    half = size / 2
    r0, r1 = int(round(y - half)), int(round(y - half)) + size
    if r0 < 0 or r1 > face.shape[0]:
        return None
    start = int(round(x - half))
    stop = int(round(towards - half))
    lo, hi = max(min(start, stop), 0), min(max(start, stop), face.shape[1] - size)  # the squares' first columns
    if hi < lo:
        return None
    reach = int(math.ceil(margin)) + 1
    ra, rb = max(r0 - reach, 0), min(r1 + reach, face.shape[0])
    ca, cb = max(lo - reach, 0), min(hi + size + reach, face.shape[1])
    padded = np.pad(face[ra:rb, ca:cb], 1).astype(np.uint8)  # beyond the map's edge: outside
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1 + r0 - ra:1 + r1 - ra, 1:-1]
    # Distance of each pixel of the square's rows to the outline, the least over the rows, then over
    # each `size`-wide run of columns: the square's nearest approach to the outline at each column.
    band = distance.min(axis=0)
    nearest = np.lib.stride_tricks.sliding_window_view(band, size).min(axis=1)  # [c - ca]: columns c .. c + size - 1
    step = 1 if stop >= start else -1
    for c0 in range(start, stop + step, step):
        if lo <= c0 <= hi and nearest[c0 - ca] >= margin:
            return x if c0 == start else c0 + half  # a square that fits stays where it was placed
    return None


def _patch_centres(frame: Frame, size: int, margin: float) -> tuple[dict[str, tuple[float, float] | None], list[str]]:
    """Each patch's centre on the photo (None where it cannot be placed), and the flags saying why.
    A patch closer than `margin` frame pixels to the face's outline is moved towards the midline
    (a cheek) or down towards the eyes (the forehead) until it is not; one that cannot be is not
    placed (`<patch>_at_edge`)."""
    centres: dict[str, tuple[float, float] | None] = dict.fromkeys(PATCH_NAMES)
    flags: list[str] = []
    forehead = _forehead_centre(frame, size)
    if forehead is not None:
        fx, fy = forehead
        eyes_top = min(e.top for e in frame.eyes)
        placed = _inside_outline(frame.filled.T, fy, fx, size, margin, eyes_top - size / 2)  # down the column
        if placed is None:
            flags.append("forehead_at_edge")
        else:
            centres["forehead"] = frame.photo_xy(fx, placed)
    nose, mouth = frame.nose, frame.mouth
    flags += ["no_nose"] * (not nose) + ["no_mouth"] * (not mouth)
    if frame.mouth_above_eyes:
        flags.append("mouth_above_eyes")
    elif nose and mouth:
        face = frame.filled
        for side, name in ((0, "cheek_right"), (1, "cheek_left")):  # image-left is the subject's right
            c = _cheek_centre(frame, face, side, nose[0], mouth[0])
            if c is None:
                continue
            towards = nose[0].left - size / 2 if side == 0 else nose[0].right + size / 2
            x = _inside_outline(face, c[0], c[1], size, margin, towards)
            if x is None:
                flags.append(f"{name}_at_edge")
            else:
                centres[name] = frame.photo_xy(x, c[1])
    return centres, flags


def patch_squares(view: FaceView, size_fraction: float | None = None
                  ) -> tuple[dict[str, tuple[float, float, int] | None], list[str]]:
    """Where each skin patch lies on the photo: name -> (x, y, side), its centre in photo pixels
    and its side in pixels, or None where it cannot be placed; and the flags saying why. The side is
    `size_fraction` x iod (default params.patch_size_fraction, the colour's patches; the evenness
    reads its own, params.evenness_patch_fraction). Computed once per face and size."""
    fraction = view.params.patch_size_fraction if size_fraction is None else size_fraction
    key = ("patch_squares", fraction)
    if key not in view.cache:
        squares: dict[str, tuple[float, float, int] | None] = dict.fromkeys(PATCH_NAMES)
        flags: list[str] = []
        frame = view.frame
        if frame is not None:
            size = max(int(round(fraction * frame.iod)), 1)
            centres, flags = _patch_centres(frame, size, view.params.patch_margin * frame.iod)
            squares = {n: None if c is None else (c[0], c[1], size) for n, c in centres.items()}
        view.cache[key] = (squares, flags)
    squares, flags = view.cache[key]
    return dict(squares), list(flags)


def measure_skin(image: np.ndarray, labels: np.ndarray | FaceMap, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None, params: ProfileParams = ProfileParams(),
                 framed: tuple[Frame | None, list[str]] | None = None, correction: Correction | None = None,
                 correction_name: str = "none") -> SkinProfile:
    """Skin colour of one face on its original photo.

    image: `(H, W, 3) uint8` sRGB photo. labels: `(H, W) uint8` fasseg6 face map of that photo, or
    its `FaceMap` (which carries the confidence). confidence: `(H, W) float32` max-softmax per
    pixel, or None. framed: `face_frame`'s result when already computed. eye_line_angle: degrees of the line
    from the image-left to the image-right eye (y down, as `align.Alignment.angle`); None estimates
    it from the two eye blobs. correction: a colour correction (`faceparse.profile.correct`) that
    every colour read goes through, named `correction_name` in the row; None reads the photo as sRGB.
    See `skin_of` for what is measured.
    """
    image = np.asarray(image)
    face = as_face_map(image, labels, confidence)
    frame, flags = framed if framed is not None else face_frame(face, eye_line_angle, params)
    return skin_of(FaceView(image, face, frame, params, correction, None, tuple(flags), correction_name))


def skin_of(view: FaceView) -> SkinProfile:
    """Skin colour of one face (`measure_skin`), computed once per view (the evenness reads whether
    its cheeks disagree).

    Patches are squares of patch_size_fraction x inter-ocular distance, axis-aligned on the photo,
    measured over predicted skin only, each at least patch_margin x iod inside the face's outline
    (`patch_squares`). A map on which a patch cannot be placed gives NaN values and a flag
    ("no_eyes", "one_eye", "no_nose", "no_mouth", "mouth_above_eyes", "<patch>_missing",
    "<patch>_at_edge"), never an exception; so does one with fewer than min_patch_pixels unclipped
    skin pixels ("<patch>_small"). The cheeks are pooled only when their colours lie within
    max_cheek_dE of each other ("cheeks_disagree" otherwise: a turned face's far cheek in shadow, a
    patch off the face). The median is over the face's skin without the neck (`FaceView.face_skin`),
    and needs two eyes and min_face_skin x iod^2 pixels ("no_skin"). A greyscale photo (`is_greyscale`) keeps its
    L* but gives NaN a*, b* and ITA, flagged "greyscale".
    """
    if "skin" not in view.cache:
        view.cache["skin"] = _skin_of(view)
    return view.cache["skin"]


def _skin_of(view: FaceView) -> SkinProfile:
    params, frame = view.params, view.frame
    flags = list(view.frame_flags)
    squares, placing = patch_squares(view)
    flags += placing
    patches, valid = [], {}
    for name in PATCH_NAMES:
        if squares[name] is None:
            patches.append(SkinPatch(name=name))
            flags.append(f"{name}_missing")
            continue
        x, y, size = squares[name]
        p, valid[name] = _measure_patch(name, view, x, y, size)
        flags += _patch_flags(p, params, len(valid[name]))
        if len(valid[name]) < params.min_patch_pixels:  # too few pixels to read a colour from: none reported
            p = replace(p, lab=(math.nan,) * 3, ita=math.nan)
            del valid[name]
        patches.append(p)
    cheeks = [valid[n] for n in ("cheek_left", "cheek_right") if n in valid]
    cheeks_lab = mean_lab(np.concatenate(cheeks) if cheeks else np.empty((0, 3)), params.averaging)
    left, right = (p.lab for p in patches[:2])
    if math.dist(left, right) > params.max_cheek_dE:  # False when either is NaN
        flags.append("cheeks_disagree")
        cheeks_lab = np.full(3, np.nan)
    med, n_used = np.full(3, np.nan), 0
    if frame is not None:  # without two eyes there is no size to judge the support by, nor a chin
        med, n_used = _skin_median(view)
        if n_used == 0 or n_used < params.min_face_skin * frame.iod**2:
            flags.append("no_skin")
            med = np.full(3, np.nan)
    if view.greyscale:  # lightness is measured; hue is not there to measure
        flags.append("greyscale")
        patches = [replace(p, lab=(p.lab[0], math.nan, math.nan), ita=math.nan) for p in patches]
        cheeks_lab = np.array([cheeks_lab[0], math.nan, math.nan])
        med = np.array([med[0], math.nan, math.nan])
    return SkinProfile(
        patches=tuple(patches), cheeks_lab=tuple(float(v) for v in cheeks_lab),
        cheeks_ita=ita(cheeks_lab[0], cheeks_lab[2]), skin_median_lab=tuple(float(v) for v in med),
        skin_ita=ita(med[0], med[2]), skin_n_used=n_used,
        eye_line_angle=frame.angle if frame is not None else math.nan,
        inter_ocular_px=frame.iod if frame is not None else math.nan,
        averaging=params.averaging, flags=tuple(flags), correction=view.correction_name)


def _take(view: FaceView) -> tuple[dict, list[str]]:
    row = skin_of(view).as_row()
    return row, [f for f in str(row.pop("skin_flags")).split(";") if f]


_EMPTY = SkinProfile(tuple(SkinPatch(n) for n in PATCH_NAMES), (math.nan,) * 3, math.nan, (math.nan,) * 3, math.nan,
                     0, math.nan, math.nan, "linear", ())
FLAGS = {
    "no_eyes": "the map has no eyes: no patch can be placed",
    "one_eye": "the map has one eye",
    "no_nose": "no nose: no cheek patch",
    "no_mouth": "no mouth: no cheek patch",
    "mouth_above_eyes": "the mouth is not below the eyes: the map is wrong, no cheek patch",
    "<patch>_missing": "the patch could not be placed",
    "<patch>_at_edge": "no place for the patch patch_margin x iod inside the face's outline (left empty)",
    "cheeks_disagree": "the cheeks differ by more than max_cheek_dE (a far cheek in shadow, a patch off the face): "
                       "cheeks_* left empty",
    "<patch>_small": "fewer unclipped skin pixels than min_patch_pixels: no colour",
    "<patch>_nonskin": "less of the patch is skin than min_skin_share",
    "<patch>_clipped": "more of its skin clipped than max_clipped_share (clipped pixels are left out)",
    "<patch>_low_confidence": "mean confidence below min_confidence",
    "no_skin": "too little face skin for the median (min_face_skin)",
    "greyscale": "the photo holds no colour: L* only",
}
MEASURE = Measure(
    "skin", "skin colour: CIE L*a*b* (D65) and ITA (Chardon et al. 1991) of both cheeks and the forehead, averaged "
    "in linear light over predicted skin, and the median over the face's skin",
    tuple(_EMPTY.as_row()), FLAGS, _take)
