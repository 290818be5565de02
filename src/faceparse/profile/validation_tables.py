"""The figures of `faceparse.profile.validation` as tables a reader reads: agreement with the templates,
test-retest, and the women-men, ethnicity and age tables beside the literature (`validation_tables`,
`markdown_tables`). Only pandas: the report draws them without the measuring code."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import pandas as pd

EVENNESS_COLUMNS = r"(cheeks|skin_residual)_sd_[Lab]"  # `faceparse.profile.evenness`: spread of L*a*b* on skin

# The columns set beside the literature (the sex, ethnicity and age tables), matched by re.fullmatch.
OF_INTEREST = (r"contrast_(brows|eyes|lips)_[Lab]", r"lips_[Lab]", r"cheeks_L", r"cheeks_ita", r"fwhr", EVENNESS_COLUMNS)


def columns_of_interest(columns: Iterable[str]) -> list[str]:
    """The columns of `columns` that `OF_INTEREST` names, in its order."""
    columns = list(columns)
    return [c for pattern in OF_INTEREST for c in columns if re.fullmatch(pattern, c)]


# -- Markdown ------------------------------------------------------------------------------------------
def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ci(ci: list | None, digits: int = 3) -> str:
    if not ci or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in ci):
        return "-"
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) if rows else "(none)"


def markdown_tables(metrics: dict, columns: Iterable[str] | None = None) -> str:
    """The key tables of `validation_metrics(...)` as Markdown (`validation_tables`), each under its title,
    then the findings they number."""
    tables, notes = validation_tables(metrics, columns)
    return "\n\n".join([f"**{title}**\n\n{_table(rows)}" for title, rows in tables]
                       + [f"**What the literature reports**:\n\n{notes or '(nothing)'}"]) + "\n"


def validation_tables(metrics: dict, columns: Iterable[str] | None = None) -> tuple[list[tuple[str, list[dict]]], str]:
    """The key tables of `validation_metrics(...)`, as (title, rows of formatted cells): agreement with
    the templates (ICC(2,1), MAD per set), test-retest (ICC(3,1), ICC(2,1)), the women-men, ethnicity
    and age tables with each finding's verdict ("[3] agrees"); and the findings they number, as a
    Markdown list. columns: the rows of the first two tables (default: the columns of interest,
    `OF_INTEREST`)."""
    v = metrics["validation"]
    columns = list(columns) if columns is not None else columns_of_interest(v["columns"])
    agree = []
    for c in columns:
        row = {"measure": c}
        for s in ("london", "canada", "pooled"):
            a = v["agreement"][s].get(c, {})
            row.update({f"{s} ICC(2,1)": _f(a.get("icc21")), f"{s} ICC(3,1)": _f(a.get("icc31")),
                        f"{s} MAD": _f(a.get("mad")), f"{s} n": str(a.get("pairs", 0))})
        agree.append(row)
    retest = [{"measure": c, "ICC(3,1)": _f(r.get("icc31")), "ICC(2,1)": _f(r.get("icc21")),
               "n": str(r.get("pairs", 0))} for c in columns for r in [v["test_retest"].get(c, {})]]
    cited: list[int] = []

    def beside(entries: list[dict], with_verdict: bool = True) -> str:
        parts = []
        for e in entries:
            if e["finding"] not in cited:
                cited.append(e["finding"])
            parts.append(f"[{e['finding'] + 1}]" + (f" {e['verdict']}" if with_verdict else ""))
        return "; ".join(parts) or "-"

    sex = [{"measure": c, "women - men": _f(e["women_minus_men"]), "95% CI": _ci(e["ci95"]),
            **{f"{s.capitalize()}": f"{_f(d['women_minus_men'])} {_ci(d['ci95'])}" for s, d in e["by_set"].items()},
            "n (w/m)": f"{e['n_women']}/{e['n_men']}", "literature": beside(e["literature"])}
           for c, e in v["sex"].items()]
    groups = sorted({g for e in v["ethnicity"].values() for g in e["groups"]})
    eth = [{"measure": c, **{g: (f"{_f(e['groups'][g]['mean'], 2)} {_ci(e['groups'][g]['ci95'], 2)}"
                                 if g in e["groups"] else "-") for g in groups},
            "literature": beside(e["literature"], with_verdict=False)} for c, e in v["ethnicity"].items()]
    n_eth = {g: next((e["groups"][g]["n"] for e in v["ethnicity"].values() if g in e["groups"]), 0)
             for g in groups}
    age = [{"measure": c, "r with age": _f(e["r"]), "95% CI": _ci(e["ci95"]), "n": str(e["n"]),
            "literature": beside(e["literature"])} for c, e in v["age"].items()]
    lit = v["literature"]
    notes = "\n".join(f"{i + 1}. {lit[i]['reported']}: {lit[i]['source']}"
                      + ("" if lit[i]["certain"] else f" (uncertain: {lit[i]['note']})") for i in sorted(cited))
    people = v["people"]
    return [
        ("Agreement with the hand-placed templates: the same measure on each photo's template map "
         "(ICC(2,1), absolute agreement; ICC(3,1), consistency; mean absolute difference; photos)", agree),
        ("Test-retest, London neutral against smiling photos", retest),
        (f"Women minus men on {people['london'] + people['canada']} people (London {people['london']}, Canada "
         f"{people['canada']}, pooled and by set), bootstrap 95% intervals resampling each group; [n] is the "
         "finding below and what the interval says of it", sex),
        ("By self-reported ethnicity, mean [95% CI]: London's groups ("
         + ", ".join(f"{g} {n_eth[g]}" for g in groups if "(" not in g)
         + "); Canada's White students apart, then pooled with London's White people (two cameras)", eth),
        ("With age, Pearson r over London's people (Canada's are all about 18)", age),
    ], notes
