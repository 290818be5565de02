"""Stage `report`: metrics/report.md (reviewed in git) and data/report/report.html (self-contained).

    python -m stages.report metrics data/report
"""

from stages._common import ROOT, arguments, setup

from faceparse import tracking
from faceparse.report import build_sections, to_html, to_markdown


def main() -> None:
    args = arguments(__doc__, "metrics_path", "report_path")
    params = setup()
    sections = build_sections(args.metrics_path, params)
    (args.metrics_path / "report.md").write_text(to_markdown(sections, args.metrics_path))
    out = args.report_path / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(sections))
    with tracking.run("report", ROOT) as t:
        t.artifact(args.metrics_path / "report.md")
        t.artifact(out)
    print(f"wrote metrics/report.md and {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
