"""The study's report: `metrics/report.md` for review in git, and one self-contained HTML page
(tables, plots and overlays embedded) that opens anywhere without a network."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd


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


def _minutes(timings: Path) -> str:
    """A run's minutes from its timings file (kept apart from the scores), n/a without one."""
    seconds = _load(timings).get("seconds")
    return _fmt(seconds / 60, 1) if seconds is not None else "n/a"


def build_sections(metrics_dir: Path, params: dict) -> list[tuple[str, str, Any]]:
    """The report as (kind, title, content) triples; kind is "text", "table" or "image"."""
    out: list[tuple[str, str, Any]] = []
    evaluation = _load(metrics_dir / "evaluate.json")
    if evaluation:
        rows = []
        for model, splits in evaluation.items():
            for split, s in splits.items():
                rows.append({"model": model, "split": split, "photos": s.get("n_images"),
                             "pixel accuracy": _fmt(s.get("pixel_accuracy")), "mean F1": _fmt(s.get("mean_f1")),
                             "mean F1 95% CI": _fmt(s.get("mean_f1_ci95")), "mean IoU": _fmt(s.get("mean_iou")),
                             "mean F1 (no bg)": _fmt(s.get("mean_f1_fg"))})
        out.append(("text", "Scores", "One confusion matrix over each whole split, at each photo's "
                    "original resolution (predictions warped back through the stored alignment); the interval "
                    "is a seeded bootstrap over photos. `synthetic` is scored through the FaceSynthetics-to-FASSEG "
                    "label table; `synthetic+adapter` through the learned label adapter. A validation split "
                    "chose each model's best epoch: its scores show pose coverage, not held-out accuracy. "
                    "`london_check` is 40 London photos labelled from their hand-placed templates, the face "
                    "found by the detector: it holds skin, brows (hair), eyes, nose and lips only, so read its "
                    "mean F1 without background."))
        out.append(("table", "Summary", _table(rows)))
        per_class = []
        for model, splits in evaluation.items():
            for split, s in splits.items():
                per_class.append({"model": model, "split": split, **{c: _fmt(v) for c, v in s.get("f1", {}).items()}})
        out.append(("table", "F1 per class", _table(per_class)))
        pose_rows = [{"model": m, "split": sp, **{p: _fmt(v) for p, v in s["mean_f1_by_pose"].items()}}
                     for m, splits in evaluation.items() for sp, s in splits.items() if s.get("mean_f1_by_pose")]
        if pose_rows:
            out.append(("table", "Mean F1 per head pose", _table(pose_rows)))
        if "synthetic" in evaluation and "synthetic+adapter" in evaluation:
            rows = [{"split": sp, "before adaptation (label table)": _fmt(evaluation["synthetic"][sp].get("mean_f1")),
                     "after adaptation": _fmt(evaluation["synthetic+adapter"][sp].get("mean_f1"))}
                    for sp in evaluation["synthetic"]]
            out.append(("table", "Synthetic model before and after the label adapter (mean F1)", _table(rows)))
    train_rows = []
    for path in sorted(metrics_dir.glob("train_*.json")):
        t = _load(path)
        train_rows.append({"model": path.stem.removeprefix("train_"), "train photos": t.get("n_train"),
                           "val photos": t.get("n_val"), "init": t.get("init_weights"), "steps": t.get("steps"),
                           "minutes": _minutes(metrics_dir / "timings" / path.name), "best epoch": t.get("best_epoch"),
                           "val mean F1": _fmt(t.get("val_mean_f1"))})
    adapt = _load(metrics_dir / "adapt.json")
    if adapt:
        train_rows.append({"model": "adapter", "train photos": adapt.get("n_train"), "val photos": adapt.get("n_val"),
                           "init": "none", "steps": adapt.get("steps"), "minutes": _minutes(metrics_dir / "timings/adapt.json"),
                           "best epoch": adapt.get("best_epoch"), "val mean F1": _fmt(adapt.get("val_mean_f1"))})
    if train_rows:
        out.append(("table", "Training", _table(train_rows)))
    for path in sorted(metrics_dir.glob("train_*.json")):
        pose = _load(path).get("val_mean_f1_by_pose")
        if pose:
            out.append(("table", f"Validation mean F1 per head pose ({path.stem.removeprefix('train_')})",
                        _table([{p: _fmt(v) for p, v in pose.items()}])))
    detector = _load(metrics_dir / "detector.json")
    if detector:
        out.append(("text", "Finding the face", "Photos in which each detector found a face (YuNet is the default, "
                    "Haar cascades the fallback), and YuNet's five points against FaceSynthetics' own landmarks, as "
                    "mean error over the inter-ocular distance. Figures in metrics/detector.json."))
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
    profile = _load(metrics_dir / "profile.json")
    if profile:
        out.append(("text", "Skin colour and face geometry", "Measured on the London face set (neutral and smiling "
                    "photos of the same people). Figures in metrics/profile.json."))
        flat = [{"measure": k, "value": _fmt(v) if not isinstance(v, dict) else json.dumps(v)}
                for k, v in profile.items()]
        out.append(("table", "Profile summary", _table(flat)))
    plots = metrics_dir / "plots"
    for img in (sorted(plots.glob("evaluate/confusion_*.png")) + sorted(plots.glob("evaluate/f1_*.png"))
                + sorted(plots.glob("profile/*.png"))):
        out.append(("image", img.stem.replace("_", " "), img))
    for img in sorted((plots / "evaluate" / "overlays").glob("*.jpg")):
        out.append(("image", "overlay " + img.stem.replace("_", " ") + " (photo | truth | prediction | errors)", img))
    out.append(("text", "Model card", model_card(params, metrics_dir)))
    return out


def model_card(params: dict, metrics_dir: Path) -> str:
    main = params.get("train", {}).get("main", {})
    return (
        f"**Data**: {' + '.join(main.get('datasets', ['fasseg']))} train for `main` (FASSEG V2 and V3: real, frontal to "
        f"full profile; mixed in as shares of each epoch: {main.get('mix') or 'none'}); Microsoft FaceSynthetics-100 "
        f"for `synthetic`; the adapter learns on FASSEG train. **Label set**: {params.get('prepare', {}).get('label_set')} "
        f"(background, skin, hair, eyes, nose, mouth; eyebrows are hair). **Architecture**: {main.get('arch')} / "
        f"{main.get('encoder')}, weights {main.get('weights')}, input {params.get('align', {}).get('size')} px, "
        f"{main.get('epochs')} epochs, loss {main.get('loss')}. **Test protocol**: FASSEG V2 Test (50 photos), scored at "
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
            lines += [f"![{title}]({Path(content).relative_to(image_base).as_posix()})", ""]
    return "\n".join(lines)


def _md_table(df: pd.DataFrame) -> str:
    # Cells are already formatted ("0.9632"); tabulate must not parse them back into numbers.
    return df.to_markdown(index=False, disable_numparse=True)


def to_html(sections: list[tuple[str, str, Any]]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>faceparse study report</title><style>",
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}",
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}",
             "th{background:#f2f2f2}img{max-width:100%;display:block;margin:.5em 0}figure{margin:1em 0}",
             "</style></head><body><h1>faceparse study report</h1>"]
    for kind, title, content in sections:
        if kind == "text":
            body = html.escape(content).replace("**", "")
            parts.append(f"<h2>{html.escape(title)}</h2><p>{body}</p>")
        elif kind == "table":
            parts.append(f"<h3>{html.escape(title)}</h3>" + content.to_html(index=False, border=0, escape=True))
        else:
            path = Path(content)
            mime = "image/png" if path.suffix == ".png" else "image/jpeg"
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<figure><img alt='{html.escape(title)}' src='data:{mime};base64,{data}'>"
                         f"<figcaption>{html.escape(title)}</figcaption></figure>")
    # Once loaded, the page records on <body> how many images decoded and how many tables it holds,
    # so a headless browser's DOM dump shows whether the page rendered whole.
    parts.append("<script>window.addEventListener('load',function(){var b=document.body,i=document.images,n=0;"
                 "for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}"
                 "b.setAttribute('data-images-loaded',n);b.setAttribute('data-images',i.length);"
                 "b.setAttribute('data-tables',document.getElementsByTagName('table').length);});</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
