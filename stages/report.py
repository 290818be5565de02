"""Stage `report`: metrics/report.md (reviewed in git) and data/report/report.html (self-contained)."""

from _common import ROOT, setup

from faceparse import tracking
from faceparse.report import build_sections, to_html, to_markdown


def main() -> None:
    params = setup()
    sections = build_sections(ROOT / "metrics", params)
    (ROOT / "metrics/report.md").write_text(to_markdown(sections, ROOT / "metrics"))
    out = ROOT / "data/report/report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(sections))
    with tracking.run("report", ROOT) as t:
        t.artifact(ROOT / "metrics/report.md")
        t.artifact(out)
    print(f"wrote metrics/report.md and {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
