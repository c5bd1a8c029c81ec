"""Progress bars (tqdm) for the long stages, shown only when the caller asks (the run's ``progress``)."""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(total: int, enabled: bool, desc: str, unit: str) -> tqdm:
    """A bar of ``total`` steps; when ``enabled`` is false a disabled one, which prints nothing and
    whose ``update`` and ``close`` do nothing. Use it as a context manager.

    The bar clears itself when closed (``leave=False``): it can run below training's bar, and what
    stays on the console is the log and the final summary.

    Parameters
    ----------
    total : int
        The number of steps (``update(n)`` advances n).
    enabled : bool
        Show the bar (the run's ``progress`` setting); False: a bar that shows nothing.
    desc : str
        The words before the bar (e.g. ``"measures"``).
    unit : str
        What one step is, for the rate (e.g. ``"net"``).

    Returns
    -------
    tqdm.tqdm

    Examples
    --------
    >>> with progress_bar(3, enabled=False, desc="measures", unit="net") as bar:
    ...     for _ in range(3):
    ...         _ = bar.update(1)
    >>> bar.disable
    True
    """
    return tqdm(total=total, desc=desc, unit=unit, leave=False, smoothing=0.1, disable=not enabled)
