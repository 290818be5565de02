"""Mapping tables between the datasets' native vocabularies (`faceparse.labels`) and onto the study's
sets, registered on import (by `faceparse.datasets`). Data, not code paths: a table per pair, class
by class, None where no honest mapping exists (the pixel becomes 255)."""

from __future__ import annotations

from faceparse.labels import get_label_set, register_mapping

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
            register_mapping(_source, _target, {name: name for name in get_label_set(_source).classes})

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
