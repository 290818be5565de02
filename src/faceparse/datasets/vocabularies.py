"""The native label vocabularies of the real-photo datasets (Helen, LaPa, iBugMask, CelebAMask-HQ,
mut1ny) and their mapping tables onto the study's sets and each other; registered on import (by
`faceparse.datasets`). Data, not code paths: a new dataset's vocabulary is a new entry here."""

from __future__ import annotations

from faceparse.labels import LabelSet, register_label_set, register_mapping

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
