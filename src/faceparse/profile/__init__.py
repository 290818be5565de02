"""What `faceparse profile` measures on each face of a photo, from the photo and its `fasseg6` face
map: skin colour (CIE L*a*b*, ITA, on three patches and over all skin) and face shape (fWHR), plus
the statistics that validate the instrument.

Where each part lives (each module has one reason to change):
- `colour`     sRGB -> CIE XYZ -> L*a*b* (IEC 61966-2-1, CIE 15), ITA and its categories
- `params`     `ProfileParams`, the stage's knobs, validated once
- `frame`      the face map rotated to a horizontal eye line; its parts and outline
- `skin`       the cheek and forehead patches and the whole-skin median (`measure_skin`)
- `fwhr`       facial width-to-height ratio from the face map (`fwhr_from_labels`)
- `landmarks`  fWHR from WebMorph `.tem` templates (`read_tem`, `fwhr_from_landmarks`)
- `face`       `profile_face`: one face's CSV row, skin and fWHR together
- `stats`      ICC(3,1), Pearson r, bootstrap interval
- `run`        the model over folders of photos (`iter_profile`, `profile_photos`, `summarise`)
- `london`     validation on the London set (`london_table`, `validate_london`)

Only the measurements are re-exported here; `run` (needs the model code) and `london` (pandas)
are imported from their modules. Figures are drawn by `faceparse.plots`.
"""

from faceparse.profile.colour import ita, ita_category, srgb_to_lab, srgb_to_linear, xyz_to_lab
from faceparse.profile.face import profile_face
from faceparse.profile.fwhr import FwhrMeasurement, fwhr_from_labels
from faceparse.profile.landmarks import fwhr_from_landmarks, read_tem
from faceparse.profile.params import ProfileParams
from faceparse.profile.skin import SkinPatch, SkinProfile, is_greyscale, measure_skin
from faceparse.profile.stats import bootstrap_ci, icc_3_1, pearson_r

__all__ = ["FwhrMeasurement", "ProfileParams", "SkinPatch", "SkinProfile", "bootstrap_ci", "fwhr_from_labels",
           "fwhr_from_landmarks", "icc_3_1", "is_greyscale", "ita", "ita_category", "measure_skin", "pearson_r",
           "profile_face", "read_tem", "srgb_to_lab", "srgb_to_linear", "xyz_to_lab"]
