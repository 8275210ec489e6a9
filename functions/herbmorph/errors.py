"""Exceptions that carry a machine-readable ``kind`` into an error document."""
from __future__ import annotations

import os
import re


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


MAX_MESSAGE_CHARS = 500
_SECRET_ENV = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY|AUTH", re.I)
_REDACTIONS = (
    # scheme://user:password@host -> scheme://***@host. The look-behind lets a scheme start only
    # where a run of scheme characters starts: without it every position of a long run is a new
    # start that scans the rest of the run (quadratic: 14 s for a 40,000-character URL).
    (re.compile(r"(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I), r"\1***@"),
    # signed-URL and credential query parameters
    (re.compile(r"((?:X-Amz-(?:Signature|Credential|Security-Token)|AWSAccessKeyId|Signature|"
                r"access_?key|secret(?:_?key)?|token|password|passwd|pwd|api_?key|sig)=)[^&\s'\"]+", re.I), r"\1***"),
    # "password: xyz", "secret_key = xyz", "Authorization: Bearer xyz"
    (re.compile(r"((?:password|passwd|secret(?:[_ ]?(?:access[_ ]?)?key)?|access[_ ]?key(?:[_ ]?id)?|token|"
                r"authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)[^\s,;'\"}]+", re.I), r"\1***"),
    # AWS-style access key ids
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "***"),
)
_TRACE = re.compile(r"Traceback \(most recent call last\).*", re.S)
_FRAME = re.compile(r'File "[^"]*", line \d+(?:, in \S+)?')


def sanitize_message(message: str) -> str:
    """One line, no traceback, no credentials, at most 500 characters.

    Linear in the length of ``message``: every pattern here can start only at a bounded number of
    places per character and never rescans (tests/test_outputs.py times 1 MB adversarial inputs).
    """
    msg = _TRACE.sub("", str(message))
    msg = _FRAME.sub("", msg)
    for name, value in os.environ.items():
        if value and len(value) >= 6 and _SECRET_ENV.search(name):
            msg = msg.replace(value, "***")
    for rx, repl in _REDACTIONS:
        msg = rx.sub(repl, msg)
    msg = " ".join(msg.split())
    if len(msg) > MAX_MESSAGE_CHARS:
        msg = msg[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return msg
