"""Validation of every measure, as skin colour and fWHR were validated: agreement with the same measure
taken on the face map drawn from each photo's hand-placed template (the London and Canada sets),
test-retest on London's neutral and smiling photos, and the women-men, ethnicity and age differences
on the 80 people beside what the literature reports (`LITERATURE`).

A "measure column" is a numeric column of a measure (`measures.get(name).columns`) that says
something about the face: where a value was read on the photo (`<patch>_x`, `fwhr_y0`) and how much
supported it (pixel counts, shares, confidence) are left out (`value_columns`).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
from tqdm import tqdm

from faceparse.datasets import read_image
from faceparse.errors import FaceparseDataError
from faceparse.facemap import BACKGROUND
from faceparse.jsonio import jsonable
from faceparse.labels import IGNORE
from faceparse.london_check import FRL_POINTS, rasterise_frl
from faceparse.profile import measures
from faceparse.profile.correct import ColourSource
from faceparse.profile.face import profile_face
from faceparse.profile.landmarks import read_tem
from faceparse.profile.london import london_table, retest_iccs, template_fwhr, validate_london
from faceparse.profile.params import ProfileParams
from faceparse.profile.stats import bootstrap_ci, icc_2_1, icc_3_1, pearson_r
from faceparse.profile.validation_tables import EVENNESS_COLUMNS, columns_of_interest

# -- the template's face map and its five points ------------------------------------------------------
# The map a measure is checked against: the london_check stage's rasterisation of the template, with
# the skin up to the template's hairline (the forehead patch needs a forehead and a brow its skin
# above; London 003 and 045 have hair over theirs, which this map calls skin). Where a measure places
# things (patches, the fWHR's rows, the frame) it reads the regions as drawn; the colour of a feature
# (`FEATURE_MEASURES`: contrast, feature colour) is read with london_check's band of 2 pixels along
# each boundary left unlabelled: hand-placed contours are not pixel-exact, so a pixel there is not
# surely feature nor skin (the brows are drawn loosely: by the model's map 42% of a Canada template's
# brow is skin, 20% of a London one's), and the truth holds only the pixels it is sure of. The band cannot serve placement: it
# parts a thin upper lip from the mouth and the forehead's skin from the brows.
TEMPLATE_BAND = 2
FEATURE_MEASURES = ("contrast", "features")
TEMPLATE_HAIRLINE = True
# FRL points as the detector's five (`geometry.POINT_NAMES`: the subject's right eye, left eye, nose
# tip, right and left mouth corner). FRL's "left" is the image's left, the subject's right. The FRL
# template has no nose-tip point: its tip is the middle of 54 / 60, the two sides of the tip's most
# bulbous part (webmorphR's FRL definition).
FRL_FIVE = ((0,), (1,), (54, 60), (87,), (93,))

# -- which columns are measure values --------------------------------------------------------------
_NOT_A_VALUE = re.compile(r"(_[xy]\d?|_n|_n_\w+|_size_px|_share|_confidence)$")
# The measures' text columns: a run whose model finds no value leaves them all empty, which pandas reads as
# numbers, so they are known by name, not by the table's type.
_TEXT = re.compile(r"(_category|_method|^fwhr_brow|^averaging|^colour_correction)$")


def template_map(points: np.ndarray, shape: tuple[int, int], band: int = TEMPLATE_BAND,
                 hairline: bool = TEMPLATE_HAIRLINE) -> np.ndarray:
    """`(H, W) uint8` fasseg6 face map of a photo of `shape` from its FRL template points `(189, 2)`.

    `rasterise_frl` marks what the template does not say 255 (outside the face outline, above the
    hairline, the lip opening). The measures read classes only, never 255, but a map's window is
    every pixel that is not background (`FaceMap.trimmed`): left at 255 the window would be the whole
    photo and `filled_face` would not fill the lip opening as a hole of the face. So 255 becomes
    background, which is what a parser's map says outside a face.
    """
    labels = rasterise_frl(points, shape, band=band, hairline=hairline)
    labels[labels == IGNORE] = BACKGROUND
    return labels


def template_points(points: np.ndarray) -> np.ndarray:
    """The five points `(5, 2)` (x, y) of `geometry.POINT_NAMES` from FRL template points `(189, 2)`."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([pts[list(i)].mean(axis=0) for i in FRL_FIVE])


def template_row(photo: Path | str, params: ProfileParams = ProfileParams(), colour: ColourSource = ColourSource(),
                 band: int = TEMPLATE_BAND, hairline: bool = TEMPLATE_HAIRLINE) -> dict:
    """The profile row of one photo measured on its template's map (`template_map`, the `.tem` beside
    it; the feature measures' columns on the map with `band`, the others on the map as drawn) with the
    template's five points: the columns of `run.profile_rows`' rows for the measures of
    `params.measures` (face_index 0, one face), no model involved. colour: how the photo's colours
    are read, as for the model's rows it is checked against (default: as taken)."""
    photo = Path(photo)
    tem = photo.with_suffix(".tem")
    if not tem.is_file():
        raise FaceparseDataError(tem, "expected the photo's hand-placed template beside it; found none")
    points = read_tem(tem)
    if points.shape != (FRL_POINTS, 2):
        raise FaceparseDataError(tem, f"expected the FRL template's {FRL_POINTS} points, found {len(points)}")
    image = read_image(photo)
    taken = colour.for_photo(image)
    drawn = profile_face(image, template_map(points, image.shape[:2], 0, hairline), None, None, params, taken,
                         template_points(points))
    features = tuple(name for name in params.measures if name in FEATURE_MEASURES)
    sure = profile_face(image, template_map(points, image.shape[:2], band, hairline), None, None,
                        replace(params, measures=features), taken, template_points(points)) if features else drawn
    columns = {c for name in features for c in measures.get(name).columns}
    measured = {c: sure[c] if c in columns else v for c, v in drawn.items()}
    flags = [f for key, v in measured.items() if key.endswith("_flags") for f in str(v).split(";") if f]
    return {"photo": str(photo), "face_index": 0, "n_faces": 1, "width": image.shape[1], "height": image.shape[0],
            **measured, "flags": ";".join(dict.fromkeys(flags))}


def template_rows(photos: Iterable[Path | str], params: ProfileParams = ProfileParams(),
                  colour: ColourSource = ColourSource(), band: int = TEMPLATE_BAND,
                  hairline: bool = TEMPLATE_HAIRLINE) -> list[dict]:
    """`template_row` of each photo, in order (every photo must have its `.tem`)."""
    photos = list(photos)
    bar = tqdm(photos, desc="templates", unit="photo", dynamic_ncols=True, disable=len(photos) < 10)
    return [template_row(p, params, colour, band, hairline) for p in bar]


# -- the Canada set -----------------------------------------------------------------------------------
_CANADA = re.compile(r"^\d{3}[fm]$")


def read_canada_info(root: Path) -> pd.DataFrame:
    """`root/canada_info.csv` as person (face_id, e.g. "003f"), age, gender and ethnicity: "white" for
    all, as the set is published (DeBruine & Jones 2017, Young Adult White Faces); it records none."""
    path = Path(root) / "canada_info.csv"
    try:
        info = pd.read_csv(path, dtype={"face_id": str})
    except OSError as err:
        raise FaceparseDataError(path, f"cannot read the Canada set's info ({err})") from None
    missing = {"face_id", "face_age", "face_gender"} - set(info.columns)
    if missing:
        raise FaceparseDataError(path, f"expected columns face_id, face_age, face_gender; "
                                       f"missing {sorted(missing)}")
    info = info.rename(columns={"face_id": "person", "face_age": "age", "face_gender": "gender"})
    return info[["person", "age", "gender"]].assign(ethnicity="white")


def canada_table(profile: pd.DataFrame, root: Path) -> pd.DataFrame:
    """The largest face of each Canada photo (`NNNf.jpg` / `NNNm.jpg`) with its person id, expression
    ("neutral", the set's only one), ethnicity, gender, age and the fWHR of its template, as
    `london_table` gives London's."""
    t = profile[profile["face_index"] == 0].copy()
    t["person"] = t["photo"].map(lambda p: Path(p).stem)
    t = t[t["person"].str.match(_CANADA)].assign(expression="neutral")
    t = t.merge(read_canada_info(root), on="person", how="left")
    t["fwhr_landmarks"] = template_fwhr(t["photo"])
    return t


def people_table(london: pd.DataFrame, canada: pd.DataFrame) -> pd.DataFrame:
    """One row per person, the neutral photo: London's and Canada's (`london_table`, `canada_table`),
    with the set each came from in `set`."""
    both = [london[london["expression"] == "neutral"].assign(set="london"), canada.assign(set="canada")]
    return pd.concat(both, ignore_index=True)


# -- which columns ------------------------------------------------------------------------------------
def value_columns(table: pd.DataFrame, names: Iterable[str]) -> list[str]:
    """The measure columns of the measures `names` that `table` holds as numbers, in the CSV's order:
    each measure's columns (`measures.get(name).columns`) less its flags, its text columns, and the
    columns that say where a value was read or how much supported it (`_x`, `_y0`, `_n`, `_n_skin`,
    `_size_px`, `_share`, `_confidence`)."""
    out = []
    for m in measures.selected(tuple(names)):
        for c in m.columns[:-1]:
            if c in table.columns and not _NOT_A_VALUE.search(c) and not _TEXT.search(c) \
                    and pd.api.types.is_numeric_dtype(table[c]):
                out.append(c)
    return out


# -- agreement with the template ------------------------------------------------------------------------
def _largest_faces(rows: pd.DataFrame) -> pd.DataFrame:
    t = rows[rows["face_index"] == 0].copy()
    t.index = [str(Path(p).resolve()) for p in t["photo"]]
    if t.index.has_duplicates:
        raise FaceparseDataError(t.index[t.index.duplicated()][0], "two rows for the largest face of one photo")
    return t


def agreement(model: pd.DataFrame, truth: pd.DataFrame, columns: Iterable[str]) -> dict[str, dict]:
    """Each column of the model's rows against the template's rows of the same photos (matched on the
    photo's path, largest face): column -> {"icc21": ICC(2,1) of the n x 2 table (model, template),
    absolute agreement; "icc31": ICC(3,1), consistency (a constant shift between the two does not
    count); "mad": mean |model - template|; "bias": mean (model - template); "pairs": photos with both}.
    A photo with a value on one side only is not a pair (the flags say why); ICC needs 3 pairs."""
    m, t = _largest_faces(model), _largest_faces(truth)
    common = m.index.intersection(t.index)
    out = {}
    for col in columns:
        if col not in m.columns or col not in t.columns:
            continue
        pair = pd.DataFrame({"model": pd.to_numeric(m.loc[common, col]),
                             "template": pd.to_numeric(t.loc[common, col])}).dropna()
        diff = pair["model"] - pair["template"]
        with np.errstate(divide="ignore", invalid="ignore"):  # a column constant over every photo: NaN
            icc = icc_2_1(pair.to_numpy()) if len(pair) > 2 else math.nan
            consistency = icc_3_1(pair.to_numpy()) if len(pair) > 2 else math.nan
        out[col] = {"icc21": icc, "icc31": consistency, "mad": float(diff.abs().mean()) if len(pair) else math.nan,
                    "bias": float(diff.mean()) if len(pair) else math.nan, "pairs": int(len(pair))}
    return out


# -- what the literature reports ----------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One thing a paper reports that a measure column can be set beside."""

    columns: str        # regex (re.fullmatch) over column names it applies to
    compare: str        # "sex" (women - men), "age" (Pearson r with age) or "ethnicity" (group means)
    reported: str       # what the paper reports, in words
    # The outcomes of the comparison that agree with the report: +1 (above 0: women higher, rising
    # with age), -1 (below), 0 (no difference: the interval holds 0); () when it states no direction.
    expect: tuple[int, ...]
    source: str
    certain: bool       # False: the direction or the attribution is not sure; read the note
    note: str = ""


# contrast_<feature>_<channel> = (skin - feature) / (skin + feature) (`faceparse.profile.contrast`,
# Porcheron et al. 2013's definition): larger is more contrast for a feature darker than its skin.
LITERATURE: tuple[Finding, ...] = (
    Finding(r"contrast_(eyes|lips)_L", "sex", "women's luminance contrast of eyes and lips with the skin around "
            "them is higher than men's", (1,), "Russell 2009, Perception 38:1211", True,
            "measured, as this project reads it, as one contrast of the eyes and lips together"),
    Finding(r"contrast_(eyes|lips)_L", "sex", "women's eye and lip luminance contrast is higher than men's", (1,),
            "Jones, Russell & Ward 2015, Evolutionary Psychology 13(1)", True),
    Finding(r"contrast_brows_L", "sex", "women's brow luminance contrast is lower than men's", (-1,),
            "Jones, Russell & Ward 2015, Evolutionary Psychology 13(1)", True),
    Finding(r"contrast_(brows|eyes|lips)_[ab]", "sex", "sex differences in a* and b* contrast: not stated here",
            (), "Jones, Russell & Ward 2015, Evolutionary Psychology 13(1)", False,
            "the paper measured a* and b* contrast too; which differences it found is not sure"),
    Finding(r"contrast_(eyes|lips)_L", "age", "luminance contrast around the eyes and lips decreases with age",
            (-1,),
            "Porcheron, Mauger & Russell 2013, PLoS ONE 8:e57985", True,
            "women only (Caucasian, in France); that it holds across ethnic groups is, as far as this project "
            "knows, a later paper's finding (Porcheron et al. 2017, Frontiers in Psychology), not this one's"),
    Finding(r"contrast_brows_L", "age", "brow luminance contrast decreases with age", (-1,),
            "Porcheron, Mauger & Russell 2013, PLoS ONE 8:e57985", False,
            "brows among the features whose contrast falls with age: not sure"),
    Finding(r"contrast_(brows|eyes|lips)_[ab]", "age", "some a* and b* contrasts decrease with age", (),
            "Porcheron, Mauger & Russell 2013, PLoS ONE 8:e57985", False, "which features and channels: not sure"),
    Finding(r"fwhr", "sex", "no reliable sex difference", (0,),
            "Lefevre et al. 2012, Evolution and Human Behavior 33:623 ('No evidence for sexual dimorphism of facial "
            "width-to-height ratio in four large adult samples')", True),
    Finding(r"cheeks_L|skin_median_L", "sex", "women's skin is lighter than men's within a population", (1,),
            "Jablonski & Chaplin 2000, Journal of Human Evolution 39:57; Frost 1988, Perspectives in Biology and "
            "Medicine 32:38", False,
            "from skin reflectance, not L* of a photo; direction sure, size not comparable"),
    Finding(r"cheeks_ita|skin_ita", "ethnicity", "ITA is lowest for skin of African descent, highest for European",
            (), "Del Bino & Bernerd 2013, British Journal of Dermatology 169 s3:33", False,
            "measured on skin with a colorimeter; the order of the London groups between those ends is not "
            "stated"),
    Finding(r"lips_[Lab]", "sex", "lip colour by sex: not stated here", (), "-", False,
            "no paper this project is sure of reports lip colour (not lip contrast) by sex"),
    Finding(EVENNESS_COLUMNS, "sex", "skin evenness by sex: not stated here", (), "-", False,
            "no paper this project is sure of reports it by sex"),
    Finding(EVENNESS_COLUMNS, "age", "an uneven skin colour makes a face look older", (),
            "Fink, Grammer & Matts 2006, Evolution and Human Behavior 27:433; Matts et al. 2007, Journal of the "
            "American Academy of Dermatology 57:977", False,
            "about perceived age: whether the spread grows with real age is not what these report"),
)



def findings(column: str, compare: str) -> list[Finding]:
    """The findings of `LITERATURE` about `column` for one comparison."""
    return [f for f in LITERATURE if f.compare == compare and re.fullmatch(f.columns, column)]


def verdict(ci: tuple[float, float] | list[float], finding: Finding) -> str:
    """How a 95% interval stands to a finding: "agrees" (its outcome is one the finding expects),
    "no difference" (the interval holds 0 where the finding reports a direction), "disagrees" (a
    clear difference the finding does not report), or "-" (the finding states no direction, or
    there is no interval)."""
    lo, hi = ci
    if not finding.expect or lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "-"
    outcome = 0 if lo <= 0 <= hi else (1 if lo > 0 else -1)
    if outcome in finding.expect:
        return "agrees"
    return "no difference" if outcome == 0 else "disagrees"


def _beside(ci: tuple[float, float] | list[float], column: str, compare: str) -> list[dict]:
    """The findings about `column` as {"finding": its index in `LITERATURE`, "verdict"}."""
    return [{"finding": LITERATURE.index(f), "verdict": verdict(ci, f)} for f in findings(column, compare)]


# -- group differences --------------------------------------------------------------------------------
def difference_ci(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b), resampling each group within itself
    (`scipy.stats.bootstrap` with two samples; `stats.bootstrap_ci` resamples one table's rows)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)  # both groups constant
        res = scipy.stats.bootstrap((a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis), n_resamples=n,
                                    vectorized=True, confidence_level=level, method="percentile",
                                    rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def _mean_ci(values: np.ndarray, n: int, seed: int) -> dict:
    values = np.asarray(values, dtype=np.float64)
    ci = bootstrap_ci(values, np.mean, n=n, seed=seed) if len(values) > 1 else (math.nan, math.nan)
    return {"n": int(len(values)), "mean": float(values.mean()) if len(values) else math.nan, "ci95": list(ci)}


def sex_differences(people: pd.DataFrame, columns: Iterable[str], n: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Women minus men for each column over `people` (`people_table`'s rows, `gender` female / male):
    column -> {"women_minus_men", "ci95" (`difference_ci`), "n_women", "n_men", "by_set": the same
    within each set, "literature": [each `Finding` about it, with its "verdict"]}. The sets are pooled
    as they are: both hold women and men in about equal numbers, so a camera's shift of a colour
    moves both groups' means alike. Findings are indices into `LITERATURE`."""
    out = {}
    for col in columns:
        entry = _sex_difference(people, col, n, seed)
        entry["by_set"] = {str(s): _sex_difference(g, col, n, seed) for s, g in people.groupby("set", sort=False)}
        entry["literature"] = _beside(entry["ci95"], col, "sex")
        out[col] = entry
    return out


def _sex_difference(people: pd.DataFrame, col: str, n: int, seed: int) -> dict:
    values = pd.to_numeric(people[col])
    women = values[(people["gender"] == "female") & values.notna()].to_numpy()
    men = values[(people["gender"] == "male") & values.notna()].to_numpy()
    d = float(women.mean() - men.mean()) if len(women) and len(men) else math.nan
    return {"women_minus_men": d, "ci95": list(difference_ci(women, men, n, seed)),
            "n_women": int(len(women)), "n_men": int(len(men))}


def ethnicity_means(people: pd.DataFrame, columns: Iterable[str], n: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Mean and bootstrap 95% interval of each column by self-reported ethnicity: column -> group ->
    {"n", "mean", "ci95"}, plus "literature". Only London records ethnicity, so the groups are
    London's (one camera, one session); Canada's 40 White students, from another camera, are the
    group "white (canada)", and "white (both sets)" pools them with London's White people, where the
    camera changes within the group. A group of one person has no interval."""
    london = people[people["set"] == "london"]
    out = {}
    for col in columns:
        values = pd.to_numeric(people[col])
        groups = {str(e): _mean_ci(values[g.index].dropna().to_numpy(), n, seed)
                  for e, g in london.groupby("ethnicity", sort=True)}
        canada = people[people["set"] == "canada"]
        if len(canada):
            groups["white (canada)"] = _mean_ci(values[canada.index].dropna().to_numpy(), n, seed)
            white = people[people["ethnicity"] == "white"]
            groups["white (both sets)"] = _mean_ci(values[white.index].dropna().to_numpy(), n, seed)
        out[col] = {"groups": groups, "literature": _beside((math.nan, math.nan), col, "ethnicity")}
    return out


def age_correlations(people: pd.DataFrame, columns: Iterable[str], n: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Pearson r of each column with age over `people`, and a bootstrap 95% interval resampling people:
    column -> {"r", "ci95", "n", "literature"}. Give it one set: Canada's students are almost all
    17-20 and were photographed with another camera, so over both sets a camera's colour would
    read as an effect of age."""
    out = {}
    for col in columns:
        pair = pd.DataFrame({"age": pd.to_numeric(people["age"]), "v": pd.to_numeric(people[col])})
        pair = pair.dropna().to_numpy()
        r, ci = math.nan, (math.nan, math.nan)
        if len(pair) > 2:
            r = pearson_r(pair[:, 0], pair[:, 1])
        if not math.isnan(r):  # NaN: a constant column, which no resample correlates either
            ci = bootstrap_ci(pair, lambda v: pearson_r(v[:, 0], v[:, 1]), n=n, seed=seed)
        out[col] = {"r": r, "ci95": list(ci), "n": int(len(pair)), "literature": _beside(ci, col, "age")}
    return out


# -- everything, for metrics/profile.json -------------------------------------------------------------
def validation_metrics(model: pd.DataFrame, truth: pd.DataFrame, london_root: Path, canada_root: Path,
                       names: Iterable[str], n: int = 2000, seed: int = 0) -> dict:
    """Every figure of this module as a JSON-ready dict (NaN -> None, NumPy -> Python numbers).

    model: the model's profile rows (`run.profile_rows`) of the London photos (neutral and smiling)
    and the Canada photos; truth: `template_rows` of the photos with a template (London neutral,
    Canada); names: the measures the rows hold (`params.measures`). Keys:
    - "london": `validate_london` on the model's London rows, unchanged (the study's first metrics)
    - "validation": {"template": how the template's map was drawn; "columns": the measure columns;
      "agreement": {"london", "canada", "pooled"} -> `agreement`; "test_retest": `retest_iccs`;
      "people": {"london", "canada"} counts; "sex": `sex_differences`; "ethnicity": `ethnicity_means`;
      "age": `age_correlations` on London's people (the last three over `columns_of_interest`);
      "literature": `LITERATURE`, which their "literature" entries index}.
    """
    names = tuple(names)
    lt, ct = london_table(model, Path(london_root)), canada_table(model, Path(canada_root))
    columns = value_columns(model, names)
    neutral = lt[lt["expression"] == "neutral"]
    # `agreement` pairs each model row with the template row of its photo: the set is the model's rows.
    agree = {"london": agreement(neutral, truth, columns), "canada": agreement(ct, truth, columns),
             "pooled": agreement(pd.concat([neutral, ct]), truth, columns)}
    people = people_table(lt, ct)
    interest = columns_of_interest(columns)
    out = {"london": validate_london(lt, seed),
           "validation": {
               "template": {"band": TEMPLATE_BAND, "hairline": TEMPLATE_HAIRLINE,
                            "five_points": "FRL 0, 1 (pupils), mean of 54 and 60 (nose tip), 87, 93 "
                                           "(mouth corners)"},
               "columns": columns, "agreement": agree, "test_retest": retest_iccs(lt, columns),
               "people": {"london": int((people["set"] == "london").sum()),
                          "canada": int((people["set"] == "canada").sum())},
               "sex": sex_differences(people, interest, n, seed),
               "ethnicity": ethnicity_means(people, interest, n, seed),
               "age": age_correlations(people[people["set"] == "london"], interest, n, seed),
               "literature": [asdict(f) for f in LITERATURE]}}
    return jsonable(out, digits=None)
