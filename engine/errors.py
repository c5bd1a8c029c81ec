"""The one exception type users see: a clear message naming what is wrong and how to fix it."""


class EngineError(Exception):
    """Bad input or a bad situation, explained in one message (no deep traceback needed)."""
