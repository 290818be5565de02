"""Label sets, native vocabularies, mapping tables and flip permutations: data, not code paths.

Every label map in faceparse is a `(H, W) uint8` array of class indices into one `LabelSet`, with
255 meaning "ignore". A dataset's native vocabulary is a `LabelSet` too; `MAPPINGS` says, class by
class, where each native class goes in a target set (None = no honest mapping, becomes 255).

Left/right: `side` states whose left a class named "left_..." is. "subject" means the person's
own left (which appears on the image's right in a frontal photo); "image" means the viewer's left.
Either way a horizontal flip swaps the two, which is what `flip_permutation` encodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

# --- mapping tables -----------------------------------------------------------------------------
#
# The rule for every table: a native class goes to the target class that holds most of its pixels
# on a typical face when the rest is a thin margin (ears or the neck edge at the face outline);
# it goes to None (ignored) when it splits into comparably large target classes (mut1ny's eyes
# into left/right) or when nothing in the target describes it (glasses, necklaces).

register_mapping("helen11", "fasseg6", {
    "background": "background",  # holds Helen's ears and neck, which FASSEG paints skin: a margin
    "skin": "skin",
    "left_brow": "hair",         # FASSEG paints eyebrows with the hair colour
    "right_brow": "hair",
    "left_eye": "eyes",
    "right_eye": "eyes",
    "nose": "nose",
    "upper_lip": "mouth",
    "inner_mouth": "mouth",
    "lower_lip": "mouth",
    "hair": "hair",
})

register_mapping("lapa11", "fasseg6", {
    "background": "background",  # holds LaPa's neck, which FASSEG paints skin: a margin
    "skin": "skin",              # LaPa's skin includes the ears, as FASSEG's does
    "left_brow": "hair",
    "right_brow": "hair",
    "left_eye": "eyes",
    "right_eye": "eyes",
    "nose": "nose",
    "upper_lip": "mouth",
    "inner_mouth": "mouth",
    "lower_lip": "mouth",
    "hair": "hair",
})

register_mapping("ibugmask11", "fasseg6", {
    "background": "background",
    "skin": "skin",              # face and scalp: FASSEG paints a bald scalp skin too
    "left_brow": "hair",
    "right_brow": "hair",
    "left_eye": "eyes",
    "right_eye": "eyes",
    "nose": "nose",
    "upper_lip": "mouth",
    "inner_mouth": "mouth",
    "lower_lip": "mouth",
    "hair": "hair",
})

register_mapping("celebamask19", "fasseg6", {
    "background": "background",
    "skin": "skin",
    "nose": "nose",
    "eye_g": None,               # frames and lenses hide what FASSEG would label beneath
    "l_eye": "eyes",
    "r_eye": "eyes",
    "l_brow": "hair",            # FASSEG paints eyebrows with the hair colour
    "r_brow": "hair",
    "l_ear": "skin",             # FASSEG has no ear class; ears are painted skin
    "r_ear": "skin",
    "mouth": "mouth",
    "u_lip": "mouth",
    "l_lip": "mouth",
    "hair": "hair",
    "hat": "background",         # as FaceSynthetics headwear: FASSEG paints hats background
    "ear_r": None,               # earrings lie over ear (skin) or background: no single label
    "neck_l": None,              # necklaces lie over neck (skin) or clothes (background)
    "neck": "skin",              # FASSEG paints the visible neck as skin
    "cloth": "background",
})

register_mapping("mut1ny11", "fasseg6", {
    "background": "background",
    "lips": "mouth",
    "eyes": "eyes",
    "nose": "nose",
    "skin": "skin",
    "hair": "hair",
    "ears": "skin",              # FASSEG has no ear class; ears are painted skin
    "eyebrows": "hair",          # FASSEG paints eyebrows with the hair colour
    "teeth": "mouth",
    "facial_hair": "hair",       # facial hair is hair-coloured in FASSEG
    "glasses": None,             # frames and lenses hide what FASSEG would label beneath
})

# Between the three 11-class sets: the same classes on the same side. Only the reach of "skin"
# differs (ears, scalp, neck: see the descriptions), a margin at the face outline.
for _source in ("helen11", "lapa11", "ibugmask11"):
    for _target in ("helen11", "lapa11", "ibugmask11"):
        if _source != _target:
            register_mapping(_source, _target, {name: name for name in _ELEVEN})

# mut1ny has no left/right and no upper/lower lip, so those classes cannot be split honestly.
_MUT1NY_TO_ELEVEN = {
    "background": "background",
    "lips": None,                # upper and lower lip are comparable areas
    "eyes": None,                # left and right eye are comparable areas
    "nose": "nose",
    "skin": "skin",              # may hold the neck, which the 11-class sets call background: a margin
    "hair": "hair",
    "eyebrows": None,            # left and right brow are comparable areas
    "teeth": "inner_mouth",      # teeth lie inside the inner-mouth region
    "facial_hair": None,         # the 11-class sets have no beard class and paint beards inconsistently
    "glasses": None,
}
register_mapping("mut1ny11", "helen11", {**_MUT1NY_TO_ELEVEN, "ears": "background"})  # Helen: ears are not skin
register_mapping("mut1ny11", "lapa11", {**_MUT1NY_TO_ELEVEN, "ears": "skin"})          # LaPa: ears are skin
register_mapping("mut1ny11", "ibugmask11", {**_MUT1NY_TO_ELEVEN, "ears": None})        # not documented

for _source in ("helen11", "lapa11", "ibugmask11"):
    register_mapping(_source, "mut1ny11", {
        "background": "background",  # may hold ears/neck, which mut1ny labels ears/skin: a margin
        "skin": "skin",
        "left_brow": "eyebrows",
        "right_brow": "eyebrows",
        "left_eye": "eyes",
        "right_eye": "eyes",
        "nose": "nose",
        "upper_lip": "lips",
        "inner_mouth": None,         # teeth, tongue and dark cavity: mut1ny labels only the teeth
        "lower_lip": "lips",
        "hair": "hair",
    })

# CelebAMask-HQ to the 11-class sets: both sides use the image convention, so l_ goes to left_.
_CELEBAMASK_TO_ELEVEN = {
    "background": "background",
    "skin": "skin",
    "nose": "nose",
    "eye_g": None,               # frames and lenses hide the eyes, brows and skin beneath
    "l_eye": "left_eye",
    "r_eye": "right_eye",
    "l_brow": "left_brow",
    "r_brow": "right_brow",
    "mouth": "inner_mouth",      # CelebAMask-HQ's mouth is the area between the lips
    "u_lip": "upper_lip",
    "l_lip": "lower_lip",
    "hair": "hair",
    "hat": "background",         # the 11-class sets have no headwear class; hats lie off the face
    "cloth": "background",
}
register_mapping("celebamask19", "helen11", {
    **_CELEBAMASK_TO_ELEVEN,
    "l_ear": "background",       # Helen's face skin excludes the ears
    "r_ear": "background",
    "ear_r": "background",       # earrings hang by the ears and neck, both background in Helen
    "neck_l": "background",
    "neck": "background",        # Helen's face skin excludes the neck
})
register_mapping("celebamask19", "lapa11", {
    **_CELEBAMASK_TO_ELEVEN,
    "l_ear": "skin",             # LaPa's skin covers the ears
    "r_ear": "skin",
    "ear_r": None,               # over an ear (skin) or below it (background)
    "neck_l": "background",      # LaPa's neck is background
    "neck": "background",
})
register_mapping("celebamask19", "ibugmask11", {
    **_CELEBAMASK_TO_ELEVEN,
    "l_ear": None,               # iBugMask's 11-class maps do not say where ears went
    "r_ear": None,
    "ear_r": None,
    "neck_l": None,              # nor the neck
    "neck": None,
})
register_mapping("celebamask19", "mut1ny11", {
    "background": "background",
    "skin": "skin",
    "nose": "nose",
    "eye_g": "glasses",
    "l_eye": "eyes",
    "r_eye": "eyes",
    "l_brow": "eyebrows",
    "r_brow": "eyebrows",
    "l_ear": "ears",
    "r_ear": "ears",
    "mouth": None,               # teeth, tongue and cavity: mut1ny labels only the teeth
    "u_lip": "lips",
    "l_lip": "lips",
    "hair": "hair",
    "hat": None,                 # mut1ny does not say how headwear is painted
    "ear_r": None,
    "neck_l": None,
    "neck": None,                # mut1ny does not say whether the neck is skin or background
    "cloth": "background",
})

# Into CelebAMask-HQ: a coarse class maps only where it lies inside one CelebAMask-HQ class.
# Background of the other sets spans CelebAMask-HQ's background, neck, cloth, hat and (Helen) ears.
for _source in ("helen11", "lapa11", "ibugmask11"):
    register_mapping(_source, "celebamask19", {
        "background": None,
        "skin": "skin",              # LaPa's ears and iBugMask's scalp are a margin
        "left_brow": "l_brow",
        "right_brow": "r_brow",
        "left_eye": "l_eye",
        "right_eye": "r_eye",
        "nose": "nose",
        "upper_lip": "u_lip",
        "inner_mouth": "mouth",
        "lower_lip": "l_lip",
        "hair": "hair",
    })
register_mapping("mut1ny11", "celebamask19", {
    "background": None,          # spans CelebAMask-HQ's background, cloth and possibly neck
    "lips": None,                # upper and lower lip are comparable areas
    "eyes": None,                # left and right eye are comparable areas
    "nose": "nose",
    "skin": "skin",              # may hold the neck: a margin
    "hair": "hair",
    "ears": None,                # left and right ear
    "eyebrows": None,            # left and right brow
    "teeth": "mouth",            # teeth lie inside CelebAMask-HQ's mouth region
    "facial_hair": None,         # CelebAMask-HQ has no beard class and paints beards as skin or hair
    "glasses": "eye_g",
})
del _source, _target
