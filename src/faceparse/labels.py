"""Label sets, mapping tables and flip permutations, and the study's own sets: data, not code paths.

Every label map in faceparse is a `(H, W) uint8` array of class indices into one `LabelSet`, with
255 meaning "ignore". A dataset's native vocabulary is a `LabelSet` too; `MAPPINGS` says, class by
class, where each native class goes in a target set (None = no honest mapping, becomes 255).

Left/right: `side` states whose left a class named "left_..." is. "subject" means the person's
own left (which appears on the image's right in a frontal photo); "image" means the viewer's left.
Either way a horizontal flip swaps the two, which is what `flip_permutation` encodes.

This module holds the sets the study trains on (FASSEG's six classes, FaceSynthetics' nineteen) and
the table between them, so that training depends on nothing else; the native vocabularies of the
other datasets and their tables live in `faceparse.datasets.vocabularies`, registered when
`faceparse.datasets` is imported.
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
