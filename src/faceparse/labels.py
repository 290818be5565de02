"""Label sets, mapping tables and flip permutations, and the study's own sets: data, not code paths.

Every label map in faceparse is a `(H, W) uint8` array of class indices into one `LabelSet`, with
255 meaning "ignore". A dataset's native vocabulary is a `LabelSet` too; `MAPPINGS` says, class by
class, where each native class goes in a target set (None = no honest mapping, becomes 255).

Left/right: `side` states whose left a class named "left_..." is. "subject" means the person's
own left (which appears on the image's right in a frontal photo); "image" means the viewer's left.
Either way a horizontal flip swaps the two, which is what `flip_permutation` encodes.

This module holds every label set (the study's and each dataset's native vocabulary: what a model
can be trained on) and the one table training's study uses (FaceSynthetics -> FASSEG). The other
mapping tables, which only reading and scoring other datasets need, live in
`faceparse.datasets.mappings`, registered when `faceparse.datasets` is imported, so that editing
one of them retrains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceparse.errors import FaceparseConfigError

IGNORE = 255


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of class names; index i in a label map means `classes[i]`."""

    name: str
    classes: tuple[str, ...]
    side: str = "none"  # "subject", "image" or "none" (no sided classes)
    flip_pairs: tuple[tuple[str, str], ...] = ()
    colors: tuple[tuple[int, int, int], ...] | None = None  # palette for RGB-coded masks / overlays
    description: str = ""

    def __post_init__(self) -> None:
        if len(set(self.classes)) != len(self.classes):
            raise FaceparseConfigError(f"label set {self.name}: duplicate class names")
        if self.colors is not None and len(self.colors) != len(self.classes):
            raise FaceparseConfigError(f"label set {self.name}: {len(self.colors)} colours for {len(self.classes)} classes")
        for a, b in self.flip_pairs:
            self.index(a), self.index(b)
        if self.flip_pairs and self.side not in ("subject", "image"):
            raise FaceparseConfigError(f"label set {self.name}: sided classes need side='subject' or 'image'")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, name: str) -> int:
        try:
            return self.classes.index(name)
        except ValueError:
            raise FaceparseConfigError(f"label set {self.name} has no class {name!r}; it has {list(self.classes)}") from None

    @property
    def flip_permutation(self) -> np.ndarray:
        """`(K,) int64`: class i becomes class perm[i] when the image is mirrored left-right."""
        perm = np.arange(self.num_classes)
        for a, b in self.flip_pairs:
            ia, ib = self.index(a), self.index(b)
            perm[ia], perm[ib] = ib, ia
        return perm

    @property
    def flip_lut(self) -> np.ndarray:
        """`(256,) uint8` lookup table applying `flip_permutation` to a label map (255 stays 255)."""
        lut = np.arange(256, dtype=np.uint8)
        lut[: self.num_classes] = self.flip_permutation
        return lut

    def palette(self) -> np.ndarray:
        """`(K, 3) uint8` colours for overlays (the native palette when there is one)."""
        if self.colors is not None:
            return np.asarray(self.colors, dtype=np.uint8)
        rng = np.random.default_rng(sum(map(ord, self.name)))
        pal = rng.integers(40, 256, size=(self.num_classes, 3), dtype=np.uint8)
        pal[0] = 0
        return pal


LABEL_SETS: dict[str, LabelSet] = {}
# (source, target) -> {source class: target class or None}; every source class must appear.
MAPPINGS: dict[tuple[str, str], dict[str, str | None]] = {}


def register_label_set(label_set: LabelSet) -> LabelSet:
    LABEL_SETS[label_set.name] = label_set
    return label_set


def register_mapping(source: str, target: str, table: dict[str, str | None]) -> None:
    src, dst = get_label_set(source), get_label_set(target)
    missing = set(src.classes) - set(table)
    extra = set(table) - set(src.classes)
    if missing or extra:
        raise FaceparseConfigError(f"mapping {source}->{target}: missing {sorted(missing)}, unknown {sorted(extra)}")
    for value in table.values():
        if value is not None:
            dst.index(value)
    MAPPINGS[(source, target)] = dict(table)


def get_label_set(name: str) -> LabelSet:
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise FaceparseConfigError(f"unknown label set {name!r}; known: {sorted(LABEL_SETS)}") from None


def mapping_lut(source: str, target: str) -> np.ndarray:
    """`(256,) uint8` lookup table from `source` indices to `target` indices (255 = ignore)."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    if source == target:
        lut[: get_label_set(source).num_classes] = np.arange(get_label_set(source).num_classes)
        return lut
    try:
        table = MAPPINGS[(source, target)]
    except KeyError:
        known = sorted(t for s, t in MAPPINGS if s == source)
        raise FaceparseConfigError(f"no mapping from {source!r} to {target!r}; {source} maps to {known}") from None
    src, dst = get_label_set(source), get_label_set(target)
    for name, goes_to in table.items():
        if goes_to is not None:
            lut[src.index(name)] = dst.index(goes_to)
    return lut


def can_convert(source: str, target: str) -> bool:
    """Whether labels in `source` can be put in `target` (the same set, or a registered mapping)."""
    try:
        mapping_lut(source, target)
    except FaceparseConfigError:
        return False
    return True


def mapping_matrix(source: str, target: str) -> np.ndarray:
    """`(K_src, K_dst) float32` 0/1 matrix summing source probabilities into target classes.

    Rows of unmappable source classes are all zero: their probability mass is dropped.
    """
    lut = mapping_lut(source, target)
    src, dst = get_label_set(source), get_label_set(target)
    m = np.zeros((src.num_classes, dst.num_classes), dtype=np.float32)
    for i in range(src.num_classes):
        if lut[i] != IGNORE:
            m[i, lut[i]] = 1.0
    return m


def convert(labels: np.ndarray, source: str, target: str) -> np.ndarray:
    """Map a `(H, W) uint8` label map from `source` to `target` indices."""
    return mapping_lut(source, target)[labels]


def flip_labels(labels: np.ndarray, label_set: str | LabelSet) -> np.ndarray:
    """Mirror a `(H, W)` label map left-right and swap left/right classes."""
    ls = get_label_set(label_set) if isinstance(label_set, str) else label_set
    return ls.flip_lut[labels[:, ::-1]]


# --- label sets -------------------------------------------------------------------------------

FASSEG6 = register_label_set(LabelSet(
    name="fasseg6",
    classes=("background", "skin", "hair", "eyes", "nose", "mouth"),
    colors=((255, 0, 0), (255, 255, 0), (127, 0, 0), (0, 0, 255), (0, 255, 255), (0, 255, 0)),
    description="FASSEG (Khan et al. 2015): eyes are one class, eyebrows are painted as hair, "
    "ears and neck as skin, clothing as background.",
))

FACESYNTHETICS19 = register_label_set(LabelSet(
    name="facesynthetics19",
    classes=("background", "skin", "nose", "right_eye", "left_eye", "right_brow", "left_brow",
             "right_ear", "left_ear", "mouth_interior", "top_lip", "bottom_lip", "neck", "hair",
             "beard", "clothing", "glasses", "headwear", "facewear"),
    side="subject",
    flip_pairs=(("right_eye", "left_eye"), ("right_brow", "left_brow"), ("right_ear", "left_ear")),
    description="Microsoft Face Synthetics (Wood et al. 2021); 255 marks ignored pixels.",
))

# FaceSynthetics -> FASSEG, following how FASSEG's annotators painted real faces (checked on
# FASSEG V2/V3 masks): brows are hair-coloured, ears and neck are skin, clothes are background.
register_mapping("facesynthetics19", "fasseg6", {
    "background": "background",
    "skin": "skin",
    "nose": "nose",
    "right_eye": "eyes",
    "left_eye": "eyes",
    "right_brow": "hair",   # FASSEG paints eyebrows with the hair colour
    "left_brow": "hair",
    "right_ear": "skin",    # FASSEG has no ear class; ears are painted skin
    "left_ear": "skin",
    "mouth_interior": "mouth",
    "top_lip": "mouth",
    "bottom_lip": "mouth",
    "neck": "skin",         # FASSEG paints the visible neck as skin
    "hair": "hair",
    "beard": "hair",        # facial hair is hair-coloured in FASSEG
    "clothing": "background",
    "glasses": None,        # frames and lenses hide what FASSEG would label beneath: ignore
    "headwear": "background",
    "facewear": None,       # masks hide mouth/nose/skin: no honest single label
})


# --- real-photo datasets ------------------------------------------------------------------------
#
# Which side "left" means. No release states it in its documentation, so the conventions below
# rest on how the labels were made and on how other code reads them:
# - LaPa's maps were drawn from its 106-point landmarks, whose first eyebrow and eye contours lie
#   on the image's left; FaRL's face parsers (facer) rename LaPa's "left eyebrow" (2) to their
#   subject-sided "rb", and CelebAMask-HQ's l_brow / l_eye / l_ear to "rb" / "re" / "rr" too. So
#   LaPa's "left" and CelebAMask-HQ's "l_" are the same physical side: the viewer's left ("image").
# - Helen (Smith et al. 2013) was rasterised from the Helen landmark contours in the same way, and
#   iBugMask copies Helen's class list and protocol: taken as "image" as well.
# A one-photo check settles it for a new download: on a frontal face, a class named left sits in
# the image's left half under "image" and in its right half under "subject".
# Mapping tables between sided sets pair classes on the same physical side (tests/test_labels.py
# checks this against `side`), so a wrong guess here would need only the `side` and table fixes.

# The three 11-class vocabularies share names and order; what "skin" covers differs (see each
# description), which is why they are separate sets.
_ELEVEN = ("background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose",
           "upper_lip", "inner_mouth", "lower_lip", "hair")
_ELEVEN_PAIRS = (("left_brow", "right_brow"), ("left_eye", "right_eye"))

HELEN11 = register_label_set(LabelSet(
    name="helen11",
    classes=_ELEVEN,
    side="image",
    flip_pairs=_ELEVEN_PAIRS,
    description="Helen relabelled by Smith et al. (CVPR 2013), lbl00..lbl10: face skin excludes ears "
    "and neck (both are background); beards are not a class.",
))

LAPA11 = register_label_set(LabelSet(
    name="lapa11",
    classes=_ELEVEN,
    side="image",
    flip_pairs=_ELEVEN_PAIRS,
    description="LaPa (Liu et al., AAAI 2020): skin covers the face and the ears (FaRL names the class "
    "face_lr_rr); the neck is background.",
))

# Same class order as Helen, but iBugMask's skin is "face and scalp" and its 11-class maps do not
# say where ears and neck went, so mapping tables treat those differently from Helen's.
IBUGMASK11 = register_label_set(LabelSet(
    name="ibugmask11",
    classes=_ELEVEN,
    side="image",
    flip_pairs=_ELEVEN_PAIRS,
    description="iBugMask (Lin et al. 2021), 11-class maps: Helen's class order; skin includes face "
    "and scalp.",
))

# Index = position in the official g_mask.py part order + 1, so later parts overwrite earlier ones
# in that order when the part files are merged. "mouth" is the inner mouth (between the lips);
# "l_lip" is the lower lip, not a left one.
CELEBAMASK19 = register_label_set(LabelSet(
    name="celebamask19",
    classes=("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
             "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"),
    side="image",
    flip_pairs=(("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")),
    colors=((0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204),
            (0, 255, 255), (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0),
            (0, 0, 153), (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51),
            (0, 204, 0)),
    description="CelebAMask-HQ (Lee et al., CVPR 2020); colours are the official g_color.py palette. "
    "eye_g = glasses, ear_r = earring, neck_l = necklace.",
))

MUT1NY11 = register_label_set(LabelSet(
    name="mut1ny11",
    classes=("background", "lips", "eyes", "nose", "skin", "hair", "ears", "eyebrows", "teeth",
             "facial_hair", "glasses"),
    colors=((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128), (255, 255, 0),
            (0, 255, 255), (255, 0, 255), (255, 255, 255), (255, 192, 192), (0, 128, 128)),
    description="Mut1ny face/head segmentation: RGB colour masks, no left/right distinction; "
    "glasses include sunglasses.",
))
