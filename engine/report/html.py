"""One self-contained HTML page: figures as base64 PNG, tables as HTML, no external resources."""

from __future__ import annotations

import base64
import html
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["esc", "image", "page", "table"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #4878a8}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eef2f7}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
.verdict{background:#f6f8e8;border-left:4px solid #8a9a28;padding:0.6em 1em}
.note{color:#666;font-size:0.9em}
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def table(df: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    """A DataFrame as an HTML table (values escaped)."""
    if df is None or len(df) == 0:
        return '<p class="note">(empty)</p>'

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else float_format.format(v)
        return str(v)

    return df.to_html(index=False, escape=True, formatters={c: fmt for c in df.columns}, border=0)


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """Assemble the page from (heading, inner HTML) sections, with a table of contents."""
    toc = "".join(f'<li><a href="#s{i}">{esc(h)}</a></li>' for i, (h, _) in enumerate(sections))
    body = "".join(f'<h2 id="s{i}">{esc(h)}</h2>\n{inner}\n' for i, (h, inner) in enumerate(sections))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1><ul>{toc}</ul>\n{body}</body></html>\n")
