"""Axis scales and ticks for heavy-tailed data: the scale that shows a sample's bulk (``axis_scale``) and an
axis set to it with ticks that stay apart (``scaled_axis``), labelled as powers of ten on log and symlog axes.

Measures such as subgraph centrality span tens of orders of magnitude across networks; a linear axis
would squeeze all but a few of them into one pixel column.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

__all__ = ["axis_scale", "label_panel", "scaled_axis"]

# A linear axis squeezes values whose interquartile range is below this share of their full range (a
# few networks or epochs far out): such an axis is drawn log (all values > 0) or symlog instead.
# A normal sample of 10^5 values has about 0.15; a log-normal one with sigma 1 (n = 1000) about 0.06.
_TAIL_RATIO = 0.1


def axis_scale(values: np.ndarray) -> tuple[str, dict[str, float]]:
    """The axis scale that shows ``values``.

    ("linear", {}) when a linear axis spreads their bulk; for a heavy tail (interquartile range below
    0.1 of the range, ``_TAIL_RATIO``) ("log", {}) if every value is > 0, else ("symlog", {"linthresh": t}):
    linear within +-t, the magnitude of the interquartile range's ends, so that the bulk is spread
    linearly, and logarithmic beyond, where the tail is.

    Parameters
    ----------
    values : array_like, shape (n,)
        The values the axis shows (any unit); NaN and infinities are left out.

    Returns
    -------
    scale : {"linear", "log", "symlog"}
        A matplotlib scale name.
    kwargs : dict
        The scale's keyword arguments (``linthresh`` for "symlog").

    Examples
    --------
    >>> axis_scale([1.0, 2.0, 3.0, 4.0])
    ('linear', {})
    >>> axis_scale([1.0, 1.1, 1.2, 1.3, 1e6])
    ('log', {})
    >>> axis_scale([-1e6, -1.0, -0.5, 0.0, 0.5, 1.0, 1e6])
    ('symlog', {'linthresh': 0.75})
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3 or np.ptp(v) == 0:
        return "linear", {}
    q25, q75 = np.percentile(v, [25, 75])
    if (q75 - q25) >= _TAIL_RATIO * np.ptp(v):
        return "linear", {}
    if v.min() > 0:
        return "log", {}
    t = max(abs(q25), abs(q75))
    if t == 0:
        mags = np.abs(v[v != 0])
        t = float(np.median(mags)) if mags.size else 1.0
    return "symlog", {"linthresh": float(t)}


def scaled_axis(ax: Axes, which: str, values: np.ndarray, nbins: int = 4) -> str:
    """Give the x or y axis of ``ax`` the scale ``axis_scale`` picks for ``values``, with ticks that stay apart.

    Linear axes get matplotlib's ``MaxNLocator``; log and symlog axes get 1, 2 or 5 x 10^k (log) or 0 and
    signed powers of ten (symlog), kept only where they are at least 1 / (``nbins`` + 1) of the axis
    apart, labelled as powers of ten (plain round numbers on a range narrower than two powers).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel; its axis is changed in place.
    which : {"x", "y"}
        The axis.
    values : array_like, shape (n,)
        The values drawn on that axis (NaN and infinities are left out).
    nbins : int
        At most about ``nbins`` + 1 labelled ticks.

    Returns
    -------
    {"linear", "log", "symlog"}
        The scale set.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> scaled_axis(ax, "y", [1.0, 1.1, 1.2, 1.3, 1e6])
    'log'
    >>> ticks = ax.yaxis.get_major_locator()()
    >>> ticks.tolist(), ax.yaxis.get_major_formatter()(ticks[-1])
    ([1.0, 100.0, 10000.0, 1000000.0], '$10^{6}$')
    """
    scale, kwargs = axis_scale(values)
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)(scale, **kwargs)
    if scale == "linear":
        axis.set_major_locator(MaxNLocator(nbins=nbins))
        return scale
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = float(v.min()), float(v.max())
    top = math.ceil(math.log10(max(abs(lo), abs(hi))))
    if scale == "log":  # 1, 2, 5 x 10^k: powers of ten first, then 5s, then 2s
        first = math.floor(math.log10(lo))
        candidates = [(m * 10.0 ** k, (m != 1, m != 5, -k)) for m in (1, 2, 5) for k in range(first, top + 1)]
    else:  # 0 first, then signed powers of ten from the outermost in
        first = math.floor(math.log10(kwargs["linthresh"]))
        candidates = [(0.0, (0, 0))] + [(sg * 10.0 ** k, (1, -k)) for k in range(first, top + 1) for sg in (-1, 1)]
    ticks = _spread_ticks(candidates, axis.get_transform(), lo, hi, nbins)
    label = _power_label
    if len(ticks) < 2:  # a narrow range between two powers of ten: plain round numbers instead
        ticks = [t for t in MaxNLocator(nbins=nbins).tick_values(lo, hi) if lo <= t <= hi]
        label = _plain_label
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(NullFormatter())
    return scale


def label_panel(ax: Axes, xlabel: str, ylabel: str, title: str, *, grid: bool = True) -> None:
    """The report's small-panel style: axis labels at 8 pt, the title at 9 pt, tick labels at 7 pt and,
    with ``grid``, a light grid.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel, changed in place.
    xlabel, ylabel, title : str
        Its axis labels and title.
    grid : bool
        Draw a light grid (alpha 0.3).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> label_panel(ax, "epoch", "share", "digits")
    >>> ax.get_xlabel(), ax.title.get_fontsize()
    ('epoch', 9.0)
    """
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    if grid:
        ax.grid(alpha=0.3)


def _plain_label(x: float, _pos: int | None = None) -> str:
    return f"{x:g}"


def _power_label(x: float, _pos: int | None = None) -> str:
    """0, or x as m x 10^k (m = 1 left out) in mathtext: the labels of the log and symlog ticks."""
    if x == 0:
        return "0"
    k = math.floor(math.log10(abs(x)) + 1e-9)
    m = round(abs(x) / 10.0 ** k, 6)
    sign = "-" if x < 0 else ""
    return f"${sign}10^{{{k}}}$" if m == 1 else f"${sign}{m:g}\\times10^{{{k}}}$"


def _spread_ticks(candidates: list[tuple[float, tuple]], transform, lo: float, hi: float, nbins: int) -> list[float]:
    """The candidate ticks within [lo, hi], taken in order of their priority key, each kept only if it is
    at least 1 / (nbins + 1) of the axis away from those kept before (log and symlog locators crowd)."""
    def pos(x: float) -> float:
        return float(transform.transform(np.array([[x]]))[0, 0])

    gap = abs(pos(hi) - pos(lo)) / (nbins + 1)
    kept: list[float] = []
    for x, _ in sorted(candidates, key=lambda c: c[1]):
        if lo <= x <= hi and all(abs(pos(x) - pos(k)) >= gap for k in kept):
            kept.append(x)
    return sorted(kept)
