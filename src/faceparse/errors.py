"""Errors that name the file, what was expected and what was found."""

from __future__ import annotations

from pathlib import Path


class FaceparseError(Exception):
    """Base class of every error faceparse raises on purpose."""


class FaceparseDataError(FaceparseError):
    """A data file is missing, unreadable or not what its format promises."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)

    def __reduce__(self):  # raised in a worker process, it must cross back whole
        return type(self), (self.path, self.problem)


class FaceparseConfigError(FaceparseError):
    """A parameter is missing or has a value faceparse cannot use."""
