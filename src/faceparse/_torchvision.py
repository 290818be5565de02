"""Make torchvision importable beside a CPU torch whose matching torchvision wheel is a CUDA build.

The CUDA torchvision 0.28 wheel cannot load its compiled extension next to the CPU torch 2.13 build,
and `import torchvision` then fails with "operator torchvision::nms does not exist" while registering
meta kernels. Defining the two op schemas it expects lets the pure-Python parts (models, transforms,
ops.misc) import; compiled ops (nms, roi_align) still raise, and faceparse uses none of them.
Where torchvision imports normally this does nothing. Import this before timm or smp.
"""

from __future__ import annotations

import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # kept alive: the op definitions live as long as this object


def ensure_torchvision() -> None:
    global _library
    try:
        import torchvision  # noqa: F401
        return
    except RuntimeError as err:
        if "torchvision::nms does not exist" not in str(err):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    import torch

    _library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS.values():
        _library.define(schema)
    import torchvision  # noqa: F401,F811


ensure_torchvision()
