"""Stage `report`: metrics/report.md (reviewed in git), data/report/report.html (self-contained) and
metrics/summary.json, the few dozen numbers `dvc metrics diff` shows.

    python -m stages.report metrics data/report
"""

import subprocess

from stages._common import ROOT, arguments, setup, write_json

from faceparse import __version__, tracking
from faceparse.checksums import sha256_of
from faceparse.report import build_sections, study_summary, to_html, to_markdown

# What decides the study's results: the last commit that changed one of these is the study's commit
# (a commit that only records a rerun's dvc.lock and metrics keeps it, so a rerun rewrites the same report).
CODE = ("src", "stages", "dvc.yaml", "params.yaml")
MODELS = ("main", "synthetic", "adapter")


def provenance() -> dict:
    """The study's code commit and its date (and whether the checkout differs from it), the version,
    and each model file's sha256."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit, _, date = git("log", "-1", "--format=%H %cs", "--", *CODE).partition(" ")
    return {"version": __version__, "commit": commit or "not a git checkout", "date": date or "n/a",
            "dirty": bool(git("status", "--porcelain", "--", *CODE)),
            "models": {f"{m}.pt": sha256_of(ROOT / "models" / f"{m}.pt") for m in MODELS
                       if (ROOT / "models" / f"{m}.pt").exists()}}


def main() -> None:
    args = arguments(__doc__, "metrics_path", "report_path")
    params = setup()
    write_json("metrics/summary.json", study_summary(args.metrics_path))
    sections = build_sections(args.metrics_path, params, provenance())
    (args.metrics_path / "report.md").write_text(to_markdown(sections, args.metrics_path))
    out = args.report_path / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(sections, {"Review page of the London faces": "../profile/review/index.html"}))
    with tracking.run("report", ROOT) as t:
        t.artifact(args.metrics_path / "report.md")
        t.artifact(out)
    print(f"wrote metrics/report.md, metrics/summary.json and {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
