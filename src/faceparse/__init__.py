"""faceparse: a reproducible face-parsing study (face regions, skin colour, face geometry)."""

__version__ = "0.1.0"
