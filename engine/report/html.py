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
    """``str(x)`` as HTML text: ``&``, ``<``, ``>`` and quotes escaped (values from data and settings are never markup).

    Parameters
    ----------
    x : any
        A value; its ``str``.

    Returns
    -------
    str
        The escaped text.

    Examples
    --------
    >>> esc("<script> & 'x'")
    '&lt;script&gt; &amp; &#x27;x&#x27;'
    """
    return html.escape(str(x))


def table(df: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    """A DataFrame as an HTML table (values escaped; the index left out).

    Parameters
    ----------
    df : pd.DataFrame or None
        The table.
    float_format : str
        ``str.format`` pattern of the float cells (default 4 significant digits); NaN and infinite
        cells are left blank.

    Returns
    -------
    str
        A ``<table>`` element, or a "(empty)" note for None or a table without rows.

    Examples
    --------
    >>> out = table(pd.DataFrame({"measure": ["strength", "<b>"], "rho": [0.123456, float("nan")]}))
    >>> "<td>0.1235</td>" in out, "<td>&lt;b&gt;</td>" in out, "<td></td>" in out
    (True, True, True)
    >>> table(None)
    '<p class="note">(empty)</p>'
    """
    if df is None or len(df) == 0:
        return '<p class="note">(empty)</p>'

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else float_format.format(v)
        return str(v)

    # na_rep: pandas never hands NaN to the formatters
    return df.to_html(index=False, escape=True, formatters={c: fmt for c in df.columns}, na_rep="", border=0)


def image(png: bytes, alt: str) -> str:
    """A PNG as an ``<img>`` element with the image inline (base64), so the page needs no other file.

    Parameters
    ----------
    png : bytes
        The PNG file's bytes.
    alt : str
        The alternative text (escaped).

    Returns
    -------
    str
        The ``<img>`` element.

    Examples
    --------
    >>> image(b"PNG", 'a "figure"')
    '<img alt="a &quot;figure&quot;" src="data:image/png;base64,UE5H">'
    """
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """Assemble the page from (heading, inner HTML) sections, with a table of contents.

    Parameters
    ----------
    title : str
        The page's title and first heading (escaped).
    sections : list of (str, str)
        (heading, inner HTML) in page order; the headings are escaped, the inner HTML is not (build it
        with ``esc``, ``table`` and ``image``).

    Returns
    -------
    str
        A whole HTML document, styles inline, no external resource.

    Examples
    --------
    >>> doc = page("Run <1>", [("Summary", "<p>ok</p>")])
    >>> "<title>Run &lt;1&gt;</title>" in doc, '<h2 id="s0">Summary</h2>' in doc
    (True, True)
    """
    toc = "".join(f'<li><a href="#s{i}">{esc(h)}</a></li>' for i, (h, _) in enumerate(sections))
    body = "".join(f'<h2 id="s{i}">{esc(h)}</h2>\n{inner}\n' for i, (h, inner) in enumerate(sections))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1><ul>{toc}</ul>\n{body}</body></html>\n")
