"""One face's label map on its photo, held over the window that contains the face only.

Prediction warps a face's class probabilities back over its crop's box on the photo; every pixel
outside is background for that face. A 1350-pixel photo is two million pixels, the face's box a
third of them, so the measurements (`faceparse.profile`) and the label maps work on the window and
never build the whole photo's map. `FaceMap.from_photo` takes a whole-photo map to the same window,
so a measurement reads the same pixels whichever way the map was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKGROUND = 0
MARGIN = 2  # background pixels kept around the face, so that its outline is closed inside the window


@dataclass(frozen=True, eq=False)  # arrays: compare fields, not maps
class FaceMap:
    """`labels` `(h, w) uint8` and `confidence` `(h, w) float32` (max-softmax, or None) of the window
    whose top-left pixel is `(x0, y0)` on a photo of `photo_shape` `(H, W)`; background outside it."""

    labels: np.ndarray
    confidence: np.ndarray | None
    x0: int
    y0: int
    photo_shape: tuple[int, int]

    @classmethod
    def from_photo(cls, labels: np.ndarray, confidence: np.ndarray | None = None) -> FaceMap:
        """The window of a whole-photo `(H, W) uint8` label map (and its confidence) that holds
        every non-background pixel (`trimmed`)."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise ValueError(f"expected a (H, W) uint8 label map, found {labels.dtype} {labels.shape}")
        if confidence is not None and np.shape(confidence) != labels.shape:
            raise ValueError(f"confidence map is {np.shape(confidence)}, expected the label map's {labels.shape}")
        return cls(labels, confidence, 0, 0, labels.shape).trimmed()

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    def trimmed(self) -> FaceMap:
        """The smallest window holding every non-background pixel and `MARGIN` pixels around it,
        clipped to the photo, its top-left corner on even coordinates (a window's coordinates then
        differ from the photo's by an even number, which Python's round-half-to-even leaves alone).
        A map with no face pixels keeps a 1-pixel window."""
        rows = np.flatnonzero((self.labels != BACKGROUND).any(axis=1))
        cols = np.flatnonzero((self.labels != BACKGROUND).any(axis=0))
        if not rows.size:
            return FaceMap(self.labels[:1, :1] * 0, None if self.confidence is None else self.confidence[:1, :1],
                           self.x0, self.y0, self.photo_shape)
        h, w = self.photo_shape
        x0 = max(self.x0 + int(cols[0]) - MARGIN, 0) // 2 * 2
        y0 = max(self.y0 + int(rows[0]) - MARGIN, 0) // 2 * 2
        x1 = min(self.x0 + int(cols[-1]) + 1 + MARGIN, w)
        y1 = min(self.y0 + int(rows[-1]) + 1 + MARGIN, h)
        return self.window(x0, y0, x1, y1)

    def window(self, x0: int, y0: int, x1: int, y1: int) -> FaceMap:
        """The map over photo pixels `[x0, x1) x [y0, y1)` (inside the photo), background where this
        window holds none."""
        labels = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
        confidence = None if self.confidence is None else np.ones(labels.shape, np.float32)
        sy, sx = self.overlap(x0, y0, x1, y1)
        if sy.stop > sy.start and sx.stop > sx.start:
            src = (slice(sy.start - self.y0, sy.stop - self.y0), slice(sx.start - self.x0, sx.stop - self.x0))
            dst = (slice(sy.start - y0, sy.stop - y0), slice(sx.start - x0, sx.stop - x0))
            labels[dst] = self.labels[src]
            if confidence is not None:
                confidence[dst] = self.confidence[src]
        return FaceMap(labels, confidence, x0, y0, self.photo_shape)

    def overlap(self, x0: int, y0: int, x1: int, y1: int) -> tuple[slice, slice]:
        """Photo rows and columns of `[x0, x1) x [y0, y1)` that lie inside this window (empty slices
        when none)."""
        h, w = self.labels.shape
        ys = slice(max(y0, self.y0), max(min(y1, self.y0 + h), max(y0, self.y0)))
        xs = slice(max(x0, self.x0), max(min(x1, self.x0 + w), max(x0, self.x0)))
        return ys, xs

    def local(self, ys: slice, xs: slice) -> tuple[slice, slice]:
        """Photo slices (inside the window) as slices of this window's arrays."""
        return slice(ys.start - self.y0, ys.stop - self.y0), slice(xs.start - self.x0, xs.stop - self.x0)

    def photo_slices(self) -> tuple[slice, slice]:
        """The window as slices of the photo."""
        h, w = self.labels.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def full(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The `(H, W)` label map and confidence of the whole photo (background, confidence 1, outside)."""
        whole = self.window(0, 0, self.photo_shape[1], self.photo_shape[0])
        return whole.labels, whole.confidence


def compose(maps: list[FaceMap], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """`(H, W) uint8` labels and `(H, W) float32` confidence of a photo of `shape` from its faces'
    maps (largest face first): the first face's map over the whole photo, then each pixel that a
    later face labels other than background, where the map so far says background or is less sure.
    So each face decides its own pixels, and a pixel that no face claims is background (confidence 1
    outside every window). One face: exactly its `full()` map."""
    labels = np.zeros(shape[:2], np.uint8)
    confidence = np.ones(shape[:2], np.float32)
    for i, face in enumerate(maps):
        ys, xs = face.photo_slices()
        own_labels, own_confidence = face.labels, face.confidence
        if own_confidence is None:
            own_confidence = np.ones(own_labels.shape, np.float32)
        here_labels, here_confidence = labels[ys, xs], confidence[ys, xs]
        if i == 0:
            here_labels[...], here_confidence[...] = own_labels, own_confidence
            continue
        take = (own_labels != BACKGROUND) & ((here_labels == BACKGROUND) | (own_confidence > here_confidence))
        here_labels[take], here_confidence[take] = own_labels[take], own_confidence[take]
    return labels, confidence
