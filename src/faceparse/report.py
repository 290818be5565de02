"""The study's report: `metrics/report.md` for review in git, and one self-contained HTML page
(tables, plots and overlays embedded) that opens anywhere without a network."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from faceparse.profile.validation_tables import validation_tables


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (float, type(None))) for x in v):
        return f"[{_fmt(v[0], 3)}, {_fmt(v[1], 3)}]"
    return str(v)


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


# The summary's numbers for each model, named short so that `dvc exp show` fits a terminal: FASSEG's
# held-out test, then the proxies for photos from the wild (the London check without background, which
# it does not label), as (split, key in metrics/evaluate.json).
_SUMMARY = {"fasseg_f1": ("fasseg/test", "mean_f1"), "fasseg_acc": ("fasseg/test", "pixel_accuracy"),
            "fasseg_iou": ("fasseg/test", "mean_iou"), "synth_f1": ("facesynthetics_100/test", "mean_f1"),
            "val_f1": ("fasseg/val", "mean_f1"), "london_f1": ("london_check", "mean_f1_fg")}


def study_summary(metrics_dir: Path) -> dict:
    """The few dozen numbers a reviewer reads whole (`metrics/summary.json`, the study's declared
    metric): per model its FASSEG test scores with the mean F1's 95% interval (`fasseg_f1_lo`,
    `fasseg_f1_hi`) and the in-the-wild proxies (FaceSynthetics test, FASSEG validation, the London
    check without background); the skin-colour instrument's London agreement; the faces found."""
    out: dict = {}
    for model, splits in _load(metrics_dir / "evaluate.json").items():
        row = {name: splits[split].get(key) for name, (split, key) in _SUMMARY.items() if split in splits}
        ci = splits.get("fasseg/test", {}).get("mean_f1_ci95")
        if ci:
            row["fasseg_f1_lo"], row["fasseg_f1_hi"] = ci[0], ci[1]
        out[model] = row
    london = _load(metrics_dir / "profile.json").get("london", {})
    if london:
        out["instrument"] = {k: london[k] for k in ("icc_L", "icc_b", "icc_ita", "icc_fwhr", "icc21_L", "icc21_b",
                                                    "icc21_ita", "icc21_fwhr", "fwhr_vs_landmarks_r",
                                                    "fwhr_vs_landmarks_mad") if k in london}
    detector = _load(metrics_dir / "detector.json")
    found = {name: {group.replace("/", "_"): c["found"] for group, c in detector[name].items()}
             for name in ("yunet", "haar") if name in detector}
    if found:
        out["faces_found"] = found
    return out


def _ci(v: Any) -> str:
    return _fmt(v) if v else "n/a"


def _headline(evaluation: dict, profile: dict) -> str:
    """The opening paragraph: what the main model scores, on what, and how the instrument holds."""
    main = evaluation.get("main", {})
    test = main.get("fasseg/test", {})
    parts = []
    if test:
        lo, hi = (test.get("mean_f1_ci95") or [None, None])[:2]
        parts.append(f"The main model scores mean F1 {_fmt(test.get('mean_f1'))} (95% CI {_fmt(lo, 3)}-{_fmt(hi, 3)}) "
                     f"and pixel accuracy {_fmt(test.get('pixel_accuracy'))} on FASSEG V2 Test ({test.get('n_images')} "
                     "photos, one confusion matrix at each photo's original resolution).")
    wild = [f"{label} {_fmt(main[split].get(key), 3)}" for label, split, key in (
        ("FaceSynthetics test", "facesynthetics_100/test", "mean_f1"),
        ("the London template check (without background)", "london_check", "mean_f1_fg"),
        ("FASSEG validation (every pose)", "fasseg/val", "mean_f1")) if split in main]
    if wild:
        parts.append("On the proxies for photos from the wild its mean F1 is " + ", ".join(wild) + ".")
    london = profile.get("london", {})
    if london:
        parts.append(f"The skin-colour instrument, London neutral against smiling photos of {london.get('icc_ita_pairs')} "
                     f"people: test-retest ICC(3,1) of cheek ITA {_fmt(london.get('icc_ita'), 3)}, L* "
                     f"{_fmt(london.get('icc_L'), 3)}, b* {_fmt(london.get('icc_b'), 3)}, fWHR {_fmt(london.get('icc_fwhr'), 3)}.")
    return " ".join(parts)


def _figure_item(path: Path, title: str, caption: str) -> tuple[str, str, Any]:
    return ("figure", title, (path, caption))


def _split_name(split: str) -> str:
    return {"fasseg/test": "FASSEG V2 Test", "fasseg/val": "FASSEG validation", "facesynthetics_100/test":
            "FaceSynthetics test", "london_check": "London template check"}.get(split, split)


def build_sections(metrics_dir: Path, params: dict, provenance: dict | None = None) -> list[tuple[str, str, Any]]:
    """The report as (kind, title, content) triples; kind is "text", "table" (a DataFrame) or
    "figure" (content: the image's path and its caption)."""
    out: list[tuple[str, str, Any]] = []
    evaluation = _load(metrics_dir / "evaluate.json")
    profile = _load(metrics_dir / "profile.json")
    if provenance:
        out.append(("text", "Provenance", provenance_text(provenance)))
    headline = _headline(evaluation, profile)
    if headline:
        out.append(("text", "Headline", headline))
    if evaluation:
        rows = []
        for model, splits in evaluation.items():
            for split, s in splits.items():
                # The London check labels no background: its figure is the mean F1 over the other classes.
                no_bg = split == "london_check"
                rows.append({"model": model, "split": split, "photos": s.get("n_images"),
                             "pixel accuracy": "n/a" if no_bg else _fmt(s.get("pixel_accuracy")),
                             "mean F1": _fmt(s.get("mean_f1_fg" if no_bg else "mean_f1")),
                             "mean F1 95% CI": "n/a" if no_bg else _ci(s.get("mean_f1_ci95")),
                             "mean IoU": _fmt(s.get("mean_iou_fg" if no_bg else "mean_iou")),
                             "mean F1 (no bg)": _fmt(s.get("mean_f1_fg"))})
        out.append(("text", "Scores", "One confusion matrix over each whole split, at each photo's "
                    "original resolution (predictions warped back through the stored alignment); the interval "
                    "is a seeded bootstrap over photos. `synthetic` is scored through the FaceSynthetics-to-FASSEG "
                    "label table; `synthetic+adapter` through the learned label adapter. A validation split "
                    "chose each model's best epoch: its scores show pose coverage, not held-out accuracy. "
                    "`london_check` is 40 London photos labelled from their hand-placed templates, the face "
                    "found by the detector: it holds skin, brows (hair), eyes, nose and lips only, so its row "
                    "gives the scores without background (and no pixel accuracy, which background would decide)."))
        out.append(("table", "Summary", _table(rows)))
        per_class = []
        for model, splits in evaluation.items():
            for split, s in splits.items():
                f1 = {c: _fmt(v) for c, v in s.get("f1", {}).items()}
                if split == "london_check" and "background" in f1:
                    f1["background"] = "not labelled"
                per_class.append({"model": model, "split": split, **f1})
        out.append(("table", "F1 per class", _table(per_class)))
        pose_rows = [{"model": m, "split": sp, **{p: _fmt(v) for p, v in s["mean_f1_by_pose"].items()}}
                     for m, splits in evaluation.items() for sp, s in splits.items() if s.get("mean_f1_by_pose")]
        if pose_rows:
            out.append(("table", "Mean F1 per head pose", _table(pose_rows)))
        if "synthetic" in evaluation and "synthetic+adapter" in evaluation:
            key = {"london_check": "mean_f1_fg"}  # no background labelled there
            rows = [{"split": sp, "before adaptation (label table)": _fmt(evaluation["synthetic"][sp].get(key.get(sp, "mean_f1"))),
                     "after adaptation": _fmt(evaluation["synthetic+adapter"][sp].get(key.get(sp, "mean_f1")))}
                    for sp in evaluation["synthetic"]]
            out.append(("table", "Synthetic model before and after the label adapter (mean F1)", _table(rows)))
        plots = metrics_dir / "plots" / "evaluate"
        for model in evaluation:
            tag = model.replace("+", "_")
            for split in evaluation[model]:
                stem = f"{tag}_{split.replace('/', '_')}"
                where = f"{model} on {_split_name(split)}"
                if (plots / f"confusion_{stem}.png").exists():
                    out.append(_figure_item(plots / f"confusion_{stem}.png", f"Confusion matrix: {where}",
                                            "Rows are the true classes, columns the predicted ones; each cell is "
                                            "the share of the row's pixels (and their count)."))
                if (plots / f"f1_{stem}.png").exists():
                    out.append(_figure_item(plots / f"f1_{stem}.png", f"F1 per class: {where}",
                                            "F1 of each class over the whole split, highest first."))
        for img in sorted((plots / "overlays").glob("*.jpg")):
            model, _, rest = img.stem.partition("_fasseg_test_")
            out.append(_figure_item(img, f"{'Best' if 'best' in rest else 'Worst'} FASSEG test photo of {model} "
                                    f"({rest})", "Photo | truth | prediction | errors (wrong pixels in magenta)."))
    train_rows = []
    for path in sorted(metrics_dir.glob("train_*.json")):
        t = _load(path)
        train_rows.append({"model": path.stem.removeprefix("train_"), "train photos": t.get("n_train"),
                           "val photos": t.get("n_val"), "init": t.get("init_weights"), "steps": t.get("steps"),
                           "best epoch": t.get("best_epoch"), "val mean F1": _fmt(t.get("val_mean_f1"))})
    adapt = _load(metrics_dir / "adapt.json")
    if adapt:
        train_rows.append({"model": "adapter", "train photos": adapt.get("n_train"), "val photos": adapt.get("n_val"),
                           "init": "none", "steps": adapt.get("steps"), "best epoch": adapt.get("best_epoch"),
                           "val mean F1": _fmt(adapt.get("val_mean_f1"))})
    if train_rows:
        out.append(("table", "Training", _table(train_rows)))
    for path in sorted(metrics_dir.glob("train_*.json")):
        pose = _load(path).get("val_mean_f1_by_pose")
        if pose:
            out.append(("table", f"Validation mean F1 per head pose ({path.stem.removeprefix('train_')})",
                        _table([{p: _fmt(v) for p, v in pose.items()}])))
    out += _detector_sections(_load(metrics_dir / "detector.json"))
    out += _profile_sections(profile, metrics_dir / "plots" / "profile")
    out.append(("text", "Model card", model_card(params, metrics_dir)))
    return out


def _detector_sections(detector: dict) -> list[tuple[str, str, Any]]:
    if not detector:
        return []
    out: list[tuple[str, str, Any]] = [
        ("text", "Finding the face", "Photos in which each detector found a face (YuNet is the default, Haar "
         "cascades the fallback), and YuNet's five points against FaceSynthetics' own landmarks, as mean error over "
         "the inter-ocular distance. Figures in metrics/detector.json.")]
    groups = sorted({g for name in ("yunet", "haar") for g in detector.get(name, {})})
    out.append(("table", "Faces found", _table([{"detector": name, **{g: f"{c['found']} / {c['photos']}"
                                                                     for g, c in detector[name].items()}}
                                                for name in ("yunet", "haar") if name in detector]).reindex(
                columns=["detector", *groups])))
    err = detector.get("yunet_landmark_error")
    if err:
        out.append(("table", "YuNet's five points against FaceSynthetics landmarks (error / inter-ocular distance)",
                    _table([{"photos": err["photos"], "mean": _fmt(err["mean_nme"], 3),
                             "median": _fmt(err["median_nme"], 3), "share under 0.1": _fmt(err["share_under_0.1"], 2),
                             **{k.replace("_", " "): _fmt(v, 3) for k, v in err["per_point"].items()}}])))
    cover = detector.get("head_in_crop")
    if cover:
        out.append(("table", "Share of the true head inside the crop, FASSEG, mean (worst photo) per pose",
                    _table([{"detector": name, **{pose: f"{c['mean']:.3f} ({c['worst']:.3f})" for pose, c in by_pose.items()}}
                            for name, by_pose in cover.items()])))
    return out


_LONDON_MEASURES = (("L", "cheek L*"), ("b", "cheek b*"), ("ita", "cheek ITA"), ("fwhr", "fWHR"))


def _profile_sections(profile: dict, plots: Path) -> list[tuple[str, str, Any]]:
    if not profile:
        return []
    out: list[tuple[str, str, Any]] = [
        ("text", "Skin colour and face geometry", f"{profile.get('faces')} faces in {profile.get('photos')} photos of "
         "the London face set (neutral and smiling photos of the same 40 people, one studio camera); every face is "
         "drawn with its patches and fWHR lines on the review page, data/profile/review/index.html. Figures in "
         "metrics/profile.json.")]
    london = profile.get("london", {})
    if london:
        out.append(("table", "Test-retest, neutral against smiling photo", _table([
            {"measure": label, "ICC(3,1)": _fmt(london.get(f"icc_{key}"), 3), "ICC(2,1)": _fmt(london.get(f"icc21_{key}"), 3),
             "people": london.get(f"icc_{key}_pairs")} for key, label in _LONDON_MEASURES if f"icc_{key}" in london])))
        out.append(("table", "fWHR from the face map against fWHR from the hand-placed template", _table([
            {"Pearson r": _fmt(london.get("fwhr_vs_landmarks_r"), 3),
             "mean absolute difference": _fmt(london.get("fwhr_vs_landmarks_mad"), 3), "photos": london.get("fwhr_pairs")}])))
        groups = london.get("ita_by_ethnicity", {})
        if groups:
            out.append(("table", "Cheek ITA by self-reported ethnicity (mean, 95% bootstrap CI)", _table([
                {"ethnicity": g, "photos": v["n_photos"], "mean ITA": _fmt(v["mean_ita"], 1),
                 "95% CI": f"{_fmt(v['ci95'][0], 1)} to {_fmt(v['ci95'][1], 1)}"} for g, v in groups.items()])))
    if profile.get("validation"):
        tables, notes = validation_tables(profile)
        out.append(("text", "Every measure against hand-placed templates, test-retest, and beside the literature",
                    "The London (40 people) and Canada (40, another lab's camera) photos measured on the model's map "
                    "and on the map drawn from each photo's hand-placed template; README, \"How far to trust each "
                    "measure\". The findings the tables number: " + notes.replace("\n", " ")))
        out += [("table", title, _table(rows)) for title, rows in tables]
    flags = profile.get("flags", {})
    if flags:
        out.append(("table", "Quality flags raised (faces)", _table([{"flag": k, "faces": v} for k, v in flags.items()])))
    captions = {
        "profile_example_face": ("A London face as the review page shows it",
                                 "The face map's outline, the cheek and forehead patches (squares) and the fWHR width and "
                                 "height lines, drawn where the measures read them."),
        "profile_distributions": ("Cheek ITA and fWHR over the London faces",
                                  "Histograms over every face; ITA's skin categories (Del Bino et al. 2006) marked."),
        "profile_test_retest": ("Test-retest: neutral against smiling photo",
                                "One point per person; the grey line is equality."),
        "profile_fwhr_agreement": ("fWHR: face map against hand-placed template",
                                   "One point per photo."),
    }
    for stem, (title, caption) in captions.items():
        for suffix in (".png", ".jpg"):
            if (plots / f"{stem}{suffix}").exists():
                out.append(_figure_item(plots / f"{stem}{suffix}", title, caption))
    return out


def provenance_text(p: dict) -> str:
    """One paragraph saying which study produced the report: code commit and date, version, models."""
    models = ", ".join(f"{name} {digest[:12]}" for name, digest in p.get("models", {}).items())
    return (f"faceparse {p.get('version', 'n/a')}, code of commit {p.get('commit', 'n/a')} ({p.get('date', 'n/a')})"
            f"{' with uncommitted changes' if p.get('dirty') else ''}; model files (sha256): {models or 'n/a'}.")


def model_card(params: dict, metrics_dir: Path) -> str:
    main = params.get("train", {}).get("main", {})
    mix = ", ".join(f"{name} {share:.0%}" for name, share in (main.get("mix") or {}).items()) or "none"
    loss = " + ".join(f"{name} x {weight:g}" for name, weight in (main.get("loss") or {}).items()) or "n/a"
    return (
        f"**Data**: {' + '.join(main.get('datasets', ['fasseg']))} train for `main` (FASSEG V2 and V3: real, frontal to "
        f"full profile; mixed in as shares of each epoch: {mix}); Microsoft FaceSynthetics-100 "
        f"for `synthetic`; the adapter learns on FASSEG train. **Label set**: {params.get('prepare', {}).get('label_set')} "
        f"(background, skin, hair, eyes, nose, mouth; eyebrows are hair). **Architecture**: {main.get('arch')} / "
        f"{main.get('encoder')}, weights {main.get('weights')}, input {params.get('align', {}).get('size')} px, "
        f"{main.get('epochs')} epochs, loss {loss}. **Test protocol**: FASSEG V2 Test (50 photos), scored at "
        "original resolution. **Known limitations**: small training sets (about 200 real faces, 100 synthetic); FASSEG's "
        "photos are studio portraits, mostly of light-skinned adults; faces are found by "
        f"{'YuNet (Haar cascades when it finds none)' if params.get('align', {}).get('detector', 'yunet') == 'yunet' else 'Haar cascades'}"
        " and a photo with no face found is segmented whole. **Licences**: FASSEG is a public research dataset (cite Khan et al. 2015, 2017); "
        "FaceSynthetics is for non-commercial research only (Research Use of Data Agreement v1.0, cite Wood et al. "
        "2021); the London set is CC BY 4.0 (DeBruine & Jones 2017). Models trained on them inherit these terms."
    )


def to_markdown(sections: list[tuple[str, str, Any]], image_base: Path) -> str:
    lines = ["# faceparse study report", ""]
    for kind, title, content in sections:
        if kind == "text":
            lines += [f"## {title}", "", content, ""]
        elif kind == "table":
            lines += [f"### {title}", "", _md_table(content), ""]
        else:
            path, caption = content
            lines += [f"#### {title}", "", f"![{title}]({Path(path).relative_to(image_base).as_posix()})", "",
                      f"*{caption}*", ""]
    return "\n".join(lines)


def _md_table(df: pd.DataFrame) -> str:
    # Cells are already formatted ("0.9632"); tabulate must not parse them back into numbers.
    return df.to_markdown(index=False, disable_numparse=True)


def to_html(sections: list[tuple[str, str, Any]], links: dict[str, str] | None = None) -> str:
    """One self-contained page; `links` (text -> relative URL) are listed under the title."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>faceparse study report</title><style>",
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}",
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}",
             "th{background:#f2f2f2}img{max-width:100%;display:block;margin:.5em 0}",
             "figure{margin:1.5em 0;padding:0}figure img{max-width:680px}figcaption{font-size:13px;color:#555;margin-top:.3em}",
             "h4{margin:1.5em 0 .3em}.headline{font-size:16px;background:#f6f8fa;padding:.8em 1em;border-radius:4px}",
             "</style></head><body><h1>faceparse study report</h1>"]
    if links:
        parts.append("<p>" + " · ".join(f"<a href='{html.escape(url)}'>{html.escape(text)}</a>"
                                         for text, url in links.items()) + "</p>")
    for kind, title, content in sections:
        if kind == "text":
            body = html.escape(content).replace("**", "")
            cls = " class='headline'" if title == "Headline" else ""
            parts.append(f"<h2>{html.escape(title)}</h2><p{cls}>{body}</p>")
        elif kind == "table":
            parts.append(f"<h3>{html.escape(title)}</h3>" + content.to_html(index=False, border=0, escape=True))
        else:
            path, caption = content
            path = Path(path)
            mime = "image/png" if path.suffix == ".png" else "image/jpeg"
            data = base64.b64encode(path.read_bytes()).decode()
            # Title above, caption right under the image: both belong to this figure alone.
            parts.append(f"<figure><h4>{html.escape(title)}</h4><img alt='{html.escape(title)}' "
                         f"src='data:{mime};base64,{data}'><figcaption>{html.escape(caption)}</figcaption></figure>")
    # Once loaded, the page records on <body> how many images decoded and how many tables it holds,
    # so a headless browser's DOM dump shows whether the page rendered whole.
    parts.append("<script>window.addEventListener('load',function(){var b=document.body,i=document.images,n=0;"
                 "for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}"
                 "b.setAttribute('data-images-loaded',n);b.setAttribute('data-images',i.length);"
                 "b.setAttribute('data-tables',document.getElementsByTagName('table').length);});</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
