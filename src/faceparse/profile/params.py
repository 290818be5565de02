"""The knobs of the `profile` measurements (`params.yaml` -> profile), validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from faceparse.errors import FaceparseConfigError
from faceparse.profile.colour import AVERAGING

CHART_METHODS = ("auto", "matrix", "cheung2004", "finlayson2015", "vandermonde")  # faceparse.profile.correct
WHITE_BALANCE = ("none", "sclera")


@dataclass(frozen=True)
class ProfileParams:
    """Knobs of the `profile` stage; every default is stated with its reason."""

    # 0.35 x inter-ocular distance: on a face 512 px from chin to crown the eyes are ~140 px apart
    # (FRL template: 119 of 438 px), so the patch is ~50 x 50 px, and it fits between eye and mouth.
    patch_size_fraction: float = 0.35
    averaging: str = "linear"
    min_patch_pixels: int = 200        # fewer skin pixels than a 14 x 14 square: too noisy to report
    min_skin_share: float = 0.75       # a patch mostly off skin was placed on a badly parsed face
    clip_high: int = 250               # a channel at or above this is taken as clipped (specular/over-exposed)
    clip_low: int = 5                  # at or below this: crushed shadow, no colour information
    max_clipped_share: float = 0.05
    min_confidence: float = 0.8        # mean max-softmax over the patch's skin pixels
    skin_percentiles: tuple[float, float] = (5.0, 95.0)  # L* range kept for the whole-skin median
    brow: str = "brow"                 # fWHR upper reference: "brow" (eyebrow's lower edge) or "eyelid"
    # An outline jump of more than this x inter-ocular distance within 0.03 x that distance of rows
    # is an ear's top (ears jump ~0.25, the face's own outline < 0.02); None: no ear search, each
    # half-width is the median over the rows from the eye line to the nose's bottom.
    ear_jump: float | None = 0.08
    # The notch above an ear lies this far out at least (x inter-ocular distance; a face's half-width
    # there is ~1.1 on the FRL template); an outward jump from nearer the midline is hair's lower edge.
    ear_min_notch: float = 0.75
    min_eye_area_ratio: float = 0.1    # second eye blob must be this share of the first to count as an eye
    # The face's light (`light`), read from the sclera (docs/colour.md).
    min_sclera_pixels: int = 20        # fewer: no sclera to read the light from (flag no_sclera)
    min_sclera_L: float = 45.0         # darker sclera: the face is underexposed
    max_sclera_chroma: float = 14.0    # more coloured sclera: the light or the camera cast a colour (London studio photos: at most 11.5)
    max_skin_clipped: float = 0.05     # a larger share of the skin at clip_high: overexposed
    # Colour correction from a chart (`correct`): the model fitted to its patches, and the leave-one-
    # patch-out dE2000 above which the fit is flagged chart_fit_poor.
    chart_method: str = "matrix"
    max_chart_dE: float = 3.0
    # Which measures a row holds (`faceparse.profile.measures`), in this order; default all.
    measures: tuple[str, ...] = ("skin", "fwhr", "contrast", "features", "evenness", "pose")
    # Where the face ends (`view.FaceView.chin_row`): the fasseg6 map paints the neck as skin. On the
    # 40 London templates the chin lies 0.57 x iod below the lower lip (0.41-0.73) and 1.82 x iod
    # below the eye line (1.57-2.05).
    chin_below_mouth: float = 0.6
    chin_below_eyes: float = 1.85
    brow_reach: float = 0.5            # a brow is hair at most this x iod above its eye's top
    min_face_skin: float = 0.5         # face skin below this x iod^2 pixels: too little skin to read (no_skin)
    # A "face" whose map has less nose than this share of its labelled pixels is not one (not_a_face):
    # real faces hold at least 0.016 (London, Canada, FASSEG to 90 degrees, FaceSynthetics), a raccoon 0.0035.
    # 0 turns the gate off.
    min_nose_share: float = 0.005
    # A cheek patch keeps this x iod from the face's outline (moved towards the nose, else dropped).
    patch_margin: float = 0.05
    # Cheeks further apart (CIE 1976 dE) are not pooled (cheeks_disagree): a far cheek in shadow or a
    # patch off the face (a face turned 35 degrees: 39). One side lit more in a studio is not: London
    # at most 7.6, the Canada men's side-lit photos up to 14.6 on their template maps.
    max_cheek_dE: float = 20.0
    fwhr_range: tuple[float, float] = (1.2, 2.8)  # fWHR outside it is geometry gone wrong: left empty
    # Facial contrast (`contrast`): the ring of skin around each feature, x iod wide, one width per
    # feature (the brows' close to them, the eyes' over the lids), chosen on the template maps the
    # study validates against (`contrast` has the agreement by width and the rule); and the least
    # support a feature and its ring need.
    ring_brows: float = 0.05
    ring_eyes: float = 0.25
    ring_lips: float = 0.1
    min_feature_pixels: int = 20
    min_ring_pixels: int = 100
    evenness_blur: float = 0.2         # slow shading: a Gaussian blur of this x iod sigma, subtracted
    # The evenness's cheek squares (`evenness`), this x iod a side, placed by the colour patches' rule
    # (moved further towards the nose, or left out, where the larger square cannot keep patch_margin). London
    # test-retest ICC(3,1) of the spread (L*, a*, b*), by side: 0.35 0.85/0.69/0.71, 0.40
    # 0.85/0.78/0.77, 0.45 0.83/0.84/0.83, 0.50 0.79/0.84/0.83 (docs/measures.md).
    evenness_patch_fraction: float = 0.45

    def __post_init__(self) -> None:
        checks = {
            "patch_size_fraction": 0 < self.patch_size_fraction <= 1,
            "evenness_patch_fraction": 0 < self.evenness_patch_fraction <= 1,
            "averaging": self.averaging in AVERAGING,
            "min_patch_pixels": self.min_patch_pixels >= 1,
            "min_skin_share": 0 <= self.min_skin_share <= 1,
            "clip_high": 0 < self.clip_high <= 255,
            "clip_low": 0 <= self.clip_low < self.clip_high,
            "max_clipped_share": 0 <= self.max_clipped_share <= 1,
            "min_confidence": 0 <= self.min_confidence <= 1,
            "skin_percentiles": 0 <= self.skin_percentiles[0] < self.skin_percentiles[1] <= 100,
            "brow": self.brow in ("brow", "eyelid"),
            "ear_jump": self.ear_jump is None or self.ear_jump > 0,
            "ear_min_notch": self.ear_min_notch >= 0,
            "min_eye_area_ratio": 0 <= self.min_eye_area_ratio <= 1,
            "min_sclera_pixels": self.min_sclera_pixels >= 1,
            "min_sclera_L": 0 <= self.min_sclera_L <= 100,
            "max_sclera_chroma": self.max_sclera_chroma > 0,
            "max_skin_clipped": 0 <= self.max_skin_clipped <= 1,
            "chart_method": self.chart_method in CHART_METHODS,
            "max_chart_dE": self.max_chart_dE > 0,
            "measures": bool(self.measures) and len(set(self.measures)) == len(self.measures),
            "chin_below_mouth": self.chin_below_mouth > 0,
            "chin_below_eyes": self.chin_below_eyes > 0,
            "brow_reach": self.brow_reach > 0,
            "min_face_skin": self.min_face_skin >= 0,
            "min_nose_share": 0 <= self.min_nose_share < 1,
            "patch_margin": self.patch_margin >= 0,
            "max_cheek_dE": self.max_cheek_dE > 0,
            "fwhr_range": 0 < self.fwhr_range[0] < self.fwhr_range[1],
            "ring_brows": self.ring_brows > 0,
            "ring_eyes": self.ring_eyes > 0,
            "ring_lips": self.ring_lips > 0,
            "min_feature_pixels": self.min_feature_pixels >= 1,
            "min_ring_pixels": self.min_ring_pixels >= 1,
            "evenness_blur": self.evenness_blur > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise FaceparseConfigError(f"profile params: invalid {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")


@dataclass(frozen=True)
class ProfileStageParams:
    """The `profile` section of params.yaml: which photos, which model, and the measurement knobs."""

    images: str                  # a folder of photos, searched recursively
    model: str                   # models/<model>.pt
    tta: bool = True
    precision: str = "fp32"      # fp32 | bf16 | auto (bf16: the graph in OpenVINO on a CPU with bfloat16)
    limit: int = 0               # the first N photos only; 0 = all
    chart: str | None = None     # a photo of a ColorChecker 24 in the session's light, "auto" (one in each photo), or None
    white_balance: str = "none"  # none | sclera: the chart-free white balance (not with a chart)
    # The Canada face set (template-labelled, another lab's camera): with London, every measure is
    # validated on it against its templates (`faceparse.profile.validation`); None skips that.
    canada: str | None = None
    measure: ProfileParams = field(default_factory=ProfileParams)

    def __post_init__(self) -> None:
        if self.white_balance not in WHITE_BALANCE:
            raise FaceparseConfigError(f"profile params: white_balance must be one of {WHITE_BALANCE}, "
                                       f"found {self.white_balance!r}")
        if self.chart is not None and self.white_balance != "none":
            raise FaceparseConfigError("profile params: give a chart or white_balance: sclera, not both")
