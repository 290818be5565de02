"""Which classes the published face-parsing protocols score, found by class name: the facial features
Helen's "overall" F1 pools into one class, and the background that LaPa's and CelebAMask-HQ's mean F1
leave out. Name rules only; the scores themselves are `faceparse.metrics`'s."""

from __future__ import annotations

from collections.abc import Sequence

from faceparse.errors import FaceparseConfigError

# Helen "overall": the facial features pooled into one class. Checked in order, so "eyebrow"
# counts as a brow, not an eye. Eyeglasses ("eye_g") and eye shadow are not facial features.
FACE_PART_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("brows", ("brow",)),
    ("eyes", ("eye",)),
    ("nose", ("nose",)),
    ("mouth", ("lip", "mouth")),
)
NOT_FACE_PARTS: tuple[str, ...] = ("eye_g", "glass", "shadow")
BACKGROUND_NAMES: tuple[str, ...] = ("background", "bg")


def face_part_group(name: str) -> str | None:
    """Which Helen "overall" group a class name belongs to, or None (skin, hair, background, ...)."""
    lowered = name.lower()
    if any(word in lowered for word in NOT_FACE_PARTS):
        return None
    for group, words in FACE_PART_GROUPS:
        if any(word in lowered for word in words):
            return group
    return None


def face_parts(classes: Sequence[str]) -> tuple[list[str | None], dict[str, list[str]]]:
    """Each class's Helen "overall" group (None outside the pool), and each group's class names.

    Raises:
        FaceparseConfigError: one of the four groups matches no class (not a Helen-like label set).
    """
    names = list(classes)
    group_of = [face_part_group(name) for name in names]
    groups = {group: [n for n, g in zip(names, group_of) if g == group] for group, _ in FACE_PART_GROUPS}
    missing = [group for group, members in groups.items() if not members]
    if missing:
        raise FaceparseConfigError(
            f"helen_overall needs eyes, brows, nose and mouth classes; none found for {missing} among {names}"
        )
    return group_of, groups


def background_index(classes: Sequence[str], protocol: str, expected: int) -> int:
    """The index of the one background class in a label set of `expected` classes (background + the
    ones a foreground-mean protocol averages).

    Raises:
        FaceparseConfigError: another number of classes, or not exactly one named as a background.
    """
    names = list(classes)
    if len(names) != expected:
        raise FaceparseConfigError(
            f"protocol {protocol!r} expects {expected} classes (background + {expected - 1}); got {len(names)}: {names}"
        )
    background = [i for i, n in enumerate(names) if n.lower() in BACKGROUND_NAMES]
    if len(background) != 1:
        raise FaceparseConfigError(
            f"protocol {protocol!r} needs exactly one class named one of {list(BACKGROUND_NAMES)}; got {names}"
        )
    return background[0]
