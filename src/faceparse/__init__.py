"""faceparse: a reproducible face-parsing study (face regions, skin colour, face geometry)."""

__version__ = "0.2.0"  # 0.2: ONNX Runtime, windowed measurement; earlier rows are not resumed
