"""Held-out plan accuracy per condition, from the plan benchmark's results files.

Run from the repository root::

    python -m benchmarks.by_condition benchmarks/results/plan-random-13001-13100.md [...]

Reads the held-out section of each file (`benchmarks.plan` writes it: one row per
planned leg, with its acquisition and what its scan holds) and prints a markdown table:
for each condition, how many held-out legs had it and how many of those were right.
A leg counts under every condition it has; "none" is a leg moved between the phases
in HU with nothing else in its scan.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

#: Condition -> how to recognise it in a row's acquisition or scan-holds cell.
CONDITIONS = {
    "leg moved between the phases": ("acquisition", r"moved"),
    "grey values, not HU": ("acquisition", r"grey"),
    "both legs in view": ("scan holds", r"both legs"),
    "metal (a tibial plate)": ("scan holds", r"metal"),
    "pipe-stem (calcified) artery": ("scan holds", r"pipe-stem"),
    "late-filling artery": ("scan holds", r"late fill"),
}


def held_out_rows(path: Path) -> list[dict[str, str]]:
    """The rows of the held-out section's table, as column -> cell."""
    rows, header, inside = [], None, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.startswith("## Held-out")
            header = None
            continue
        if not inside or not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|- "):
            rows.append(dict(zip(header, cells, strict=False)))
    return rows


def condition_table(rows: list[dict[str, str]]) -> str:
    """Markdown: per condition, legs and right (count and share)."""
    lines = ["| condition | legs | right | share |", "|---|---|---|---|"]

    def line(name: str, chosen: list[dict[str, str]]) -> str:
        right = sum(r["right"] == "True" for r in chosen)
        share = f"{right / len(chosen):.0%}" if chosen else "-"
        return f"| {name} | {len(chosen)} | {right} | {share} |"

    for name, (column, pattern) in CONDITIONS.items():
        lines.append(line(name, [r for r in rows if re.search(pattern, r.get(column, ""))]))
    plain = [r for r in rows if not r.get("scan holds") and "grey" not in r["acquisition"]]
    lines.append(line("none of the above (moved, in HU)", plain))
    lines.append(line("**all**", rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the per-condition table of the given results files' held-out legs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="plan-random-*.md files")
    args = parser.parse_args(argv)
    rows = [row for path in args.results for row in held_out_rows(path)]
    print(condition_table(rows))


if __name__ == "__main__":
    main()
