"""Progress bars (tqdm) for the long stages, shown only when the caller asks (the run's ``progress``)."""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(total: int, enabled: bool, desc: str, unit: str) -> tqdm:
    """A bar of ``total`` steps; when ``enabled`` is false a disabled one, which prints nothing and
    whose ``update`` and ``close`` do nothing. Use it as a context manager.

    The bar clears itself when closed (``leave=False``): it can run below training's bar, and what
    stays on the console is the log and the final summary."""
    return tqdm(total=total, desc=desc, unit=unit, leave=False, smoothing=0.1, disable=not enabled)
