"""What `faceparse profile` measures on each face of a photo, from the photo and its `fasseg6` face
map (the measures: skin colour, fWHR, facial contrast, feature colour, skin evenness, head pose),
plus the statistics that validate the instrument.

Where each part lives (each module has one reason to change):
- `measures`   the registry: each measure's columns, flags and definition; every flag a row can carry
- `view`       what every measure reads of one face (`FaceView`): photo, map, frame, correction, regions
- `colour`     sRGB -> CIE XYZ -> L*a*b* (IEC 61966-2-1, CIE 15), ITA and its categories, greyscale
- `params`     `ProfileParams`, the stage's knobs, validated once
- `frame`      the face map rotated to a horizontal eye line; its parts and outline
- `skin`       the cheek and forehead patches and the face's skin median (`measure_skin`)
- `fwhr`       facial width-to-height ratio from the face map (`fwhr_from_labels`)
- `contrast`   facial contrast of brows, eyes and lips against the skin around them
- `features`   the colour of brows, eyes and lips, and where they lie (`face_features`)
- `evenness`   the spread of L*a*b* in the cheek patches and over the deshaded face skin
- `pose`       yaw and roll from the five points, or from the map
- `landmarks`  fWHR from WebMorph `.tem` templates (`read_tem`, `fwhr_from_landmarks`)
- `light`      the face's light from its sclera and clipped skin (`measure_light`)
- `chart`      the ColorChecker 24: its reference colours, finding it in a photo (`find_chart`)
- `correct`    colour correction fitted to a chart (`fit_chart`), the sclera white balance, and
               which correction a run's photos get (`colour_source`)
- `face`       `profile_face`: one face's CSV row, the measures taken together; `not_a_face`
- `stats`      ICC(3,1), ICC(2,1), Pearson r, bootstrap interval
- `run`        the model over folders of photos (`iter_profile`, `profile_photos`, `summarise`)
- `london`     the London set's table and test-retest (`london_table`, `validate_london`)
- `validation` every measure against template maps (London, Canada), test-retest, by sex,
               ethnicity and age beside the literature; `validation_tables` draws its tables

Only the measurements are re-exported here; `run` (needs the model code), `london` and `validation`
(pandas) are imported from their modules. Figures are drawn by `faceparse.plots`.
"""

# Names are looked up on first use, so that importing one measurement (`profile.face`, as
# `faceparse profile` does) does not import the statistics and SciPy with it.
_HOME = {"ita": "colour", "ita_category": "colour", "srgb_to_lab": "colour", "srgb_to_linear": "colour",
         "xyz_to_lab": "colour", "profile_face": "face", "FwhrMeasurement": "fwhr", "fwhr_from_labels": "fwhr",
         "fwhr_from_landmarks": "landmarks", "read_tem": "landmarks", "ProfileParams": "params",
         "SkinPatch": "skin", "SkinProfile": "skin", "is_greyscale": "colour", "measure_skin": "skin",
         "bootstrap_ci": "stats", "icc_2_1": "stats", "icc_3_1": "stats", "pearson_r": "stats",
         "find_chart": "chart", "fit_chart": "correct", "colour_source": "correct", "measure_light": "light"}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'faceparse.profile' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"faceparse.profile.{_HOME[name]}"), name)
