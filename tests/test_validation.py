"""faceparse.profile.validation: agreement with the templates, test-retest, group differences beside the
literature, on small tables with known answers, and the template's row of one real London photo."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceparse.profile.landmarks import fwhr_from_landmarks, read_tem
from faceparse.profile.london import retest_iccs, validate_london
from faceparse.profile.params import ProfileParams
from faceparse.profile.stats import icc_2_1, icc_3_1
from faceparse.profile.validation_tables import markdown_tables
from faceparse.profile.validation import (LITERATURE, Finding, age_correlations, agreement, canada_table,
                                          columns_of_interest, difference_ci, ethnicity_means, findings,
                                          read_canada_info, sex_differences, template_map,
                                          template_points, template_row, validation_metrics, value_columns, verdict)

# Shrout & Fleiss (1979), Table 2: 6 targets by 4 judges; their Table 4: ICC(2,1) = .29, ICC(3,1) = .71.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def _rows(photos: list[str], **columns) -> pd.DataFrame:
    return pd.DataFrame({"photo": photos, "face_index": 0, **columns})


def test_agreement_is_icc_2_1_and_the_mean_absolute_difference_of_matched_photos(tmp_path):
    # Model = template + 1 on four photos. By hand (n = 4, k = 2): BMS = 10/3, JMS = 2, EMS = 0, so
    # ICC(2,1) = BMS / (BMS + k JMS / n) = (10/3) / (10/3 + 1) = 10/13; |d| = 1 on each photo.
    photos = [str(tmp_path / f"{i}.jpg") for i in range(6)]
    truth = _rows(photos[:4] + [photos[5]], cheeks_L=[1.0, 2.0, 3.0, 4.0, 9.0])
    # The model's rows name the photos differently (relative to tmp_path), in another order, with a
    # second face on photo 0, a photo the template has not (4) and one it has that the model lacks (5).
    model = pd.DataFrame({"photo": [os.path.relpath(p) for p in
                                    [photos[3], photos[0], photos[0], photos[1], photos[2], photos[4]]],
                          "face_index": [0, 0, 1, 0, 0, 0], "cheeks_L": [5.0, 2.0, 50.0, 3.0, 4.0, 7.0]})
    got = agreement(model, truth, ["cheeks_L", "not_there"])
    # ICC(3,1) = (BMS - EMS) / (BMS + EMS) = 1: a constant shift is consistency, not disagreement.
    assert got == {"cheeks_L": {"icc21": pytest.approx(10 / 13), "icc31": pytest.approx(1.0), "mad": 1.0, "bias": 1.0,
                                "pairs": 4}}
    # The n x 2 table of Shrout & Fleiss's first two judges, as model and template.
    sf = agreement(_rows(photos, fwhr=SHROUT_FLEISS[:, 0]), _rows(photos, fwhr=SHROUT_FLEISS[:, 1]), ["fwhr"])["fwhr"]
    assert sf["icc21"] == pytest.approx(icc_2_1(SHROUT_FLEISS[:, :2]))
    assert sf["mad"] == pytest.approx(31 / 6) and sf["bias"] == pytest.approx(31 / 6)  # 46/6 - 15/6
    # A value on one side only is no pair; fewer than 3 pairs give no ICC.
    few = agreement(_rows(photos[:3], fwhr=[1.0, 2.0, np.nan]), _rows(photos[:3], fwhr=[1.5, 2.5, 3.5]), ["fwhr"])
    assert few["fwhr"]["pairs"] == 2 and math.isnan(few["fwhr"]["icc21"]) and few["fwhr"]["mad"] == 0.5


def _london(neutral: np.ndarray, smiling: np.ndarray, column: str = "cheeks_L") -> pd.DataFrame:
    n = len(neutral)
    people = [f"{i:03d}" for i in range(n)]
    return pd.DataFrame({"person": people * 2, "expression": ["neutral"] * n + ["smiling"] * n,
                         column: np.concatenate([neutral, smiling])})


def test_retest_iccs_and_the_legacy_keys():
    # Shrout & Fleiss's judges 1 and 3 as the two photos; the ICCs are stats' on the same pairs.
    t = _london(SHROUT_FLEISS[:, 0], SHROUT_FLEISS[:, 2])
    t["cheeks_b"], t["cheeks_ita"], t["fwhr"] = 1.0, t["cheeks_L"] * 2, np.nan
    t["photo"], t["ethnicity"] = "x.jpg", "white"
    t["fwhr_landmarks"] = np.nan
    got = retest_iccs(t, ["cheeks_L", "cheeks_ita", "fwhr", "absent"])
    assert got["cheeks_L"] == {"icc31": pytest.approx(icc_3_1(SHROUT_FLEISS[:, 0], SHROUT_FLEISS[:, 2])),
                               "icc21": pytest.approx(icc_2_1(SHROUT_FLEISS[:, [0, 2]])), "pairs": 6}
    assert got["cheeks_ita"]["icc31"] == pytest.approx(got["cheeks_L"]["icc31"])  # ICC is scale-free
    assert got["fwhr"]["pairs"] == 0 and math.isnan(got["fwhr"]["icc31"]) and "absent" not in got
    # validate_london keeps its keys and takes its numbers from retest_iccs.
    old = validate_london(t)
    assert old["icc_L"] == got["cheeks_L"]["icc31"] and old["icc21_L"] == got["cheeks_L"]["icc21"]
    assert old["icc_L_pairs"] == 6 and old["icc_ita"] == got["cheeks_ita"]["icc31"] and old["icc_fwhr_pairs"] == 0
    assert math.isnan(old["icc_b"])  # constant over everyone: no ICC, not an error
    # A smile that adds 1 everywhere: perfectly consistent (3,1), not in absolute agreement (2,1):
    # the 10/13 of the hand example above.
    shifted = retest_iccs(_london(np.arange(1.0, 5.0), np.arange(2.0, 6.0)), ["cheeks_L"])["cheeks_L"]
    assert shifted["icc31"] == pytest.approx(1.0) and shifted["icc21"] == pytest.approx(10 / 13)
    assert retest_iccs(_london(np.arange(4.0), np.arange(4.0)).query("expression == 'neutral'"), ["cheeks_L"]) == {}


def test_value_columns_keep_the_measure_values_only():
    t = pd.DataFrame({"cheeks_L": [1.0], "cheeks_ita": [2.0], "cheek_left_x": [3.0], "cheek_left_n_skin": [4],
                      "cheek_left_skin_share": [0.9], "forehead_confidence": [0.9], "cheeks_ita_category": ["light"],
                      "skin_flags": [""], "fwhr": [1.9], "fwhr_x0": [1.0], "fwhr_height_px": [200.0],
                      "forehead_size_px": [50], "skin_n_used": [100], "sclera_L": [80.0]})
    # The CSV's order (skin's columns, then fwhr's); sclera_L is the light's, not a measure's.
    assert value_columns(t, ["fwhr", "skin"]) == ["cheeks_L", "cheeks_ita", "fwhr", "fwhr_height_px"]
    assert columns_of_interest(["fwhr", "contrast_eyes_L", "cheeks_L", "lips_a", "contrast_eyes_n"]) == [
        "contrast_eyes_L", "lips_a", "cheeks_L", "fwhr"]


def test_difference_ci_resamples_within_each_group():
    women, men = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    lo, hi = difference_ci(women, men, n=500, seed=3)
    # Men constant: the interval is the women's mean's, whose resamples lie in [1, 3].
    assert 1.0 <= lo < 2.0 < hi <= 3.0
    assert difference_ci(women, men, n=500, seed=3) == (lo, hi)  # seeded
    assert difference_ci(np.full(4, 5.0), np.full(3, 2.0)) == (3.0, 3.0)
    assert all(math.isnan(v) for v in difference_ci(np.ones(1), men))


def _people() -> pd.DataFrame:
    # 6 London people and 4 Canada people; women's eye contrast 0.1 above men's in each set, their
    # brow contrast 0.1 above too (the literature reports lower), fWHR the same.
    return pd.DataFrame({
        "person": ["001", "002", "003", "004", "005", "006", "003f", "008f", "095m", "098m"],
        "set": ["london"] * 6 + ["canada"] * 4,
        "gender": ["female", "male", "female", "male", "female", "male", "female", "female", "male", "male"],
        "ethnicity": ["white", "white", "black", "black", "east_asian", "east_asian/white"] + ["white"] * 4,
        "age": [20, 30, 40, 50, 60, 70, 18, 19, 20, 21],
        "contrast_eyes_L": [0.3, 0.2, 0.31, 0.21, 0.32, 0.22, 0.4, 0.41, 0.3, 0.31],
        "contrast_brows_L": [0.3, 0.2, 0.31, 0.21, 0.32, 0.22, 0.4, 0.41, 0.3, 0.31],
        "fwhr": [1.8, 1.8, 1.9, 1.9, 2.0, 2.0, 1.7, 1.8, 1.7, 1.8],
        "cheeks_ita": [50.0, 40.0, 10.0, 0.0, 45.0, 35.0, 60.0, 61.0, 55.0, 56.0],
        "lips_L": [60.0, 50.0, 58.0, 48.0, 56.0, 46.0, 62.0, 63.0, 52.0, 53.0]})


def test_sex_differences_beside_the_literature():
    got = sex_differences(_people(), ["contrast_eyes_L", "contrast_brows_L", "fwhr", "lips_L"], n=1000, seed=0)
    eyes = got["contrast_eyes_L"]
    # By hand: women (0.3 + 0.31 + 0.32 + 0.4 + 0.41) / 5 = 0.348, men (0.2 + 0.21 + 0.22 + 0.3 + 0.31) / 5
    # = 0.248.
    assert eyes["women_minus_men"] == pytest.approx(0.1) and (eyes["n_women"], eyes["n_men"]) == (5, 5)
    assert eyes["by_set"]["london"]["women_minus_men"] == pytest.approx(0.1)
    assert eyes["by_set"]["canada"]["women_minus_men"] == pytest.approx(0.1)
    lo, hi = eyes["ci95"]
    assert 0 < lo < 0.1 < hi
    assert {LITERATURE[f["finding"]].source.split(",")[0]: f["verdict"] for f in eyes["literature"]} == {
        "Russell 2009": "agrees", "Jones": "agrees"}
    assert [f["verdict"] for f in got["contrast_brows_L"]["literature"]] == ["disagrees"]
    # fWHR: no difference, which the report allows (the interval holds 0).
    assert got["fwhr"]["women_minus_men"] == pytest.approx(0.0)
    assert [f["verdict"] for f in got["fwhr"]["literature"]] == ["agrees"]
    assert [f["verdict"] for f in got["lips_L"]["literature"]] == ["-"]  # nothing reported
    assert sex_differences(_people(), ["fwhr"], n=1000, seed=0) == {"fwhr": got["fwhr"]}  # seeded


def test_ethnicity_means_and_age():
    got = ethnicity_means(_people(), ["cheeks_ita"], n=500, seed=0)["cheeks_ita"]
    g = got["groups"]
    assert list(g) == ["black", "east_asian", "east_asian/white", "white", "white (canada)", "white (both sets)"]
    assert g["black"]["mean"] == 5.0 and g["black"]["n"] == 2
    assert 0.0 <= g["black"]["ci95"][0] < 5.0 < g["black"]["ci95"][1] <= 10.0  # resampled means of 0 and 10
    assert g["east_asian/white"]["n"] == 1 and all(math.isnan(v) for v in g["east_asian/white"]["ci95"])
    assert g["white (canada)"]["mean"] == 58.0 and g["white (both sets)"]["mean"] == pytest.approx(322 / 6)
    assert [LITERATURE[f["finding"]].source.split(",")[0] for f in got["literature"]] == ["Del Bino & Bernerd 2013"]
    age = age_correlations(_people().assign(x=lambda t: 2 * t["age"] + 1), ["x", "fwhr"], n=300, seed=0)
    assert age["x"]["r"] == pytest.approx(1.0) and age["x"]["ci95"] == [pytest.approx(1.0)] * 2 and age["x"]["n"] == 10
    assert -1 <= age["fwhr"]["ci95"][0] <= age["fwhr"]["r"] <= age["fwhr"]["ci95"][1] <= 1


def test_verdicts():
    women_higher = Finding("x", "sex", "women higher", (1,), "a paper", True)
    none_or_men = Finding("x", "sex", "no difference, or men higher", (0, -1), "a paper", True)
    assert [verdict(ci, women_higher) for ci in ((0.1, 0.3), (-0.1, 0.3), (-0.3, -0.1))] == [
        "agrees", "no difference", "disagrees"]
    assert [verdict(ci, none_or_men) for ci in ((0.1, 0.3), (-0.1, 0.3), (-0.3, -0.1))] == [
        "disagrees", "agrees", "agrees"]
    assert verdict((math.nan, math.nan), women_higher) == "-"
    assert verdict((0.1, 0.3), Finding("x", "sex", "not stated", (), "-", False, "why")) == "-"


def test_every_finding_names_its_source_and_applies_to_a_column():
    cols = [f"contrast_{f}_{c}" for f in ("brows", "eyes", "lips") for c in "Lab"] + [
        "lips_L", "cheeks_L", "cheeks_ita", "fwhr", "cheeks_sd_L"]
    for f in LITERATURE:
        assert f.compare in ("sex", "age", "ethnicity") and f.source and set(f.expect) <= {-1, 0, 1}
        assert any(f in findings(c, f.compare) for c in cols), f
        assert f.certain or f.note, f"an uncertain finding says why: {f}"


def test_validation_metrics_end_to_end_json_and_markdown(tmp_path):
    london, canada = tmp_path / "london", tmp_path / "canada"
    london.mkdir(), canada.mkdir()
    ids = [f"{i:03d}" for i in range(1, 7)]
    pd.DataFrame({"face_id": ids, "face_age": [20, 30, 40, 50, 60, 70], "face_gender": ["female", "male"] * 3,
                  "face_eth": ["white", "white", "black", "black", "east_asian", "east_asian"]}
                 ).to_csv(london / "london_info.csv", index=False)
    cids = ["003f", "008f", "095m", "098m"]
    pd.DataFrame({"face_id": cids, "face_age": [18, 19, 20, 21],
                  "face_gender": ["female", "female", "male", "male"]}).to_csv(canada / "canada_info.csv", index=False)
    neutral = [str(london / "neutral_front" / f"{i}_03.jpg") for i in ids]
    smiling = [str(london / "smiling_front" / f"{i}_08.jpg") for i in ids]
    cphotos = [str(canada / f"{i}.jpg") for i in cids]
    rng = np.random.default_rng(0)
    base = rng.normal(60, 5, 10)
    model = pd.DataFrame({"photo": neutral + smiling + cphotos, "face_index": 0,
                          "cheeks_L": np.concatenate([base[:6], base[:6] + 1, base[6:]]),
                          "cheeks_b": 15.0 + np.arange(16), "cheeks_ita": np.arange(16.0), "fwhr": 1.8,
                          "cheeks_ita_category": "light", "cheek_left_x": 1.0})
    truth = pd.DataFrame({"photo": neutral + cphotos, "face_index": 0, "cheeks_L": np.r_[base[:6], base[6:]] + 0.5,
                          "cheeks_b": 15.0, "cheeks_ita": 1.0, "fwhr": 1.9})
    m = validation_metrics(model, truth, london, canada, ("skin", "fwhr"), n=200, seed=0)
    json.dumps(m, allow_nan=False)  # NaN is None already
    v = m["validation"]
    assert v["columns"] == ["cheeks_L", "cheeks_b", "cheeks_ita", "fwhr"] and v["people"] == {"london": 6, "canada": 4}
    a = v["agreement"]
    assert [a[s]["cheeks_L"]["pairs"] for s in ("london", "canada", "pooled")] == [6, 4, 10]
    assert a["pooled"]["cheeks_L"]["mad"] == pytest.approx(0.5)
    assert a["pooled"]["cheeks_L"]["bias"] == pytest.approx(-0.5)
    # fWHR constant on each side: no spread between people, so ICC(2,1) = 0 / (k JMS / n) = 0.
    assert a["pooled"]["fwhr"]["icc21"] == pytest.approx(0.0, abs=1e-9)
    assert a["pooled"]["fwhr"]["mad"] == pytest.approx(0.1)
    assert v["test_retest"]["cheeks_L"]["icc31"] == pytest.approx(1.0) and v["test_retest"]["cheeks_L"]["pairs"] == 6
    assert m["london"]["icc_L"] == v["test_retest"]["cheeks_L"]["icc31"] and m["london"]["icc_fwhr"] is None
    assert list(v["sex"]) == ["cheeks_L", "cheeks_ita", "fwhr"] and v["sex"]["fwhr"]["women_minus_men"] == 0.0
    text = markdown_tables(m)
    assert "| cheeks_L " in text and "Lefevre et al. 2012" in text and "white (canada)" in text
    assert "| 5/5 " in text  # n (w/m) on the 10 people
    assert v["literature"][v["sex"]["fwhr"]["literature"][0]["finding"]]["source"].startswith("Lefevre et al. 2012")
    assert v["age"]["cheeks_L"]["n"] == 6  # London's people only


def test_canada_info_and_table(mirror):
    info = read_canada_info(mirror / "canada_faces")
    assert len(info) == 40 and set(info["ethnicity"]) == {"white"}
    assert info.set_index("person").loc["003f"].to_dict() == {"age": 19, "gender": "female", "ethnicity": "white"}
    assert (info["gender"].value_counts() == 20).all()
    photo = str(mirror / "canada_faces" / "003f.jpg")
    t = canada_table(pd.DataFrame({"photo": [photo, "elsewhere/001_03.jpg"], "face_index": [0, 0], "fwhr": [1.7, 1.8]}),
                     mirror / "canada_faces")
    assert list(t["person"]) == ["003f"] and t["expression"].tolist() == ["neutral"] and t["age"].tolist() == [19]
    tem = read_tem(mirror / "canada_faces" / "003f.tem")
    assert t["fwhr_landmarks"].iloc[0] == pytest.approx(fwhr_from_landmarks(tem).fwhr)


def test_template_row_of_a_london_photo(mirror):
    photo = mirror / "london_faces" / "neutral_front" / "002_03.jpg"
    points = read_tem(photo.with_suffix(".tem"))
    labels = template_map(points, (1350, 1350))
    # Class pixels of the template's regions (london_check's rasterisation: 2 px along each boundary
    # unlabelled), 255 made background.
    assert dict(zip(*np.unique(labels, return_counts=True))) == {0: 1566271, 1: 229449, 2: 4626, 3: 5168, 4: 10269,
                                                                   5: 6717}
    five = template_points(points)
    assert five[0].tolist() == points[0].tolist() and five[4].tolist() == points[93].tolist()
    assert five[2] == pytest.approx((points[54] + points[60]) / 2)
    row = template_row(photo, ProfileParams(measures=("skin", "fwhr")))
    assert row["photo"] == str(photo) and row["face_index"] == 0 and row["flags"] == ""
    landmarks = fwhr_from_landmarks(points)
    # Height: the map's brows' lower edge and lip top are the template's own points 84/85 and 88-92,
    # read on pixel rows: 268.5 px against 268.15 px.
    assert row["fwhr_height_px"] == pytest.approx(landmarks.height_px, abs=1.0)
    # Width: the landmarks' is at the zygia 185/187; the map has no ears to find the notch by, so its
    # width is the outline's median half-widths over the rows from the eye line to the nose's bottom:
    # 491 px against 495.1 here, fWHR 1.829 against 1.846. Over the 80 templates (London neutral,
    # Canada) map minus landmark fWHR is -0.104 to +0.127, median -0.011.
    assert row["fwhr"] == pytest.approx(landmarks.fwhr, abs=0.03)
    assert row["inter_ocular_px"] == pytest.approx(np.hypot(*(points[1] - points[0])), rel=0.02)  # eye blobs vs pupils
    assert 60 < row["cheeks_L"] < 90 and row["cheek_left_n_skin"] > 0
