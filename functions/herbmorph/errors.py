"""Exceptions that carry a machine-readable ``kind`` into an error document."""
from __future__ import annotations


class HerbmorphError(Exception):
    """Base error; ``kind`` ends up in ``error.kind`` of a ``herbmorph/error/1`` document."""

    kind = "internal"

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        if kind:
            self.kind = kind


class InputError(HerbmorphError):
    """The input itself is unusable (empty, truncated, not an image, too large, ...)."""

    kind = "bad-input"


class ModelError(HerbmorphError):
    """Weights missing or unloadable."""

    kind = "model"


def brief(exc: BaseException, limit: int = 200) -> str:
    """An unexpected exception as one short line for a result document ("TesseractError: …"):
    the stage that caught it records it and carries on."""
    return f"{type(exc).__name__}: {str(exc)[:limit]}"
