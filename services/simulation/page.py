"""The report page's frame: the HTML shell, its stylesheet, and the escaped building blocks
(sections and tables) every part of :mod:`services.simulation.report` is made of."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def section(title: str, body: str, section_id: str = "") -> str:
    anchor = f" id='{escape(section_id)}'" if section_id else ""
    return f"<section{anchor}><h2>{escape(title)}</h2>\n{body}\n</section>"


def table(head: Sequence[str], rows: Iterable[Sequence[str]], css_class: str) -> str:
    """Cells are HTML already (escaped by the caller); the head is plain text."""
    thead = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{css_class}'><thead><tr>{thead}</tr></thead><tbody>\n{body}\n</tbody></table>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body><main>
{body}
</main></body></html>
"""

CSS = """
body { margin: 0; background: #f4f5f7; color: #1c2833;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 16px 20px; margin: 16px 0; }
.meta, figcaption { color: #5d6d7e; margin: 0 0 6px; } figcaption { font-size: 13px; margin-top: 6px; }
.summary { font-size: 17px; margin: 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eaecef; vertical-align: top; }
th { font-size: 13px; color: #5d6d7e; font-weight: 600; background: #fafbfc; }
.numbers :is(td, th) + :is(td, th), .headline :is(td, th):nth-child(n+3) { text-align: right; }
.events td:first-child { white-space: nowrap; width: 9em; color: #5d6d7e; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 0 7px; border-radius: 9px;
  margin-left: 6px; }
.badge.met { background: #e3f1e7; color: #1e6b34; } .badge.missed { background: #f9e0dc; color: #9c2a1b; }
.better { color: #1e6b34; font-weight: 600; } .worse { color: #9c2a1b; font-weight: 600; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 7px; }
.dot.medical { background: #c0392b; } .dot.vulnerable { background: #e67e22; } .dot.standard { background: #7393a7; }
figure { margin: 0; } figure img { width: 100%; height: auto; display: block; }
"""
