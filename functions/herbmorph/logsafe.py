"""One log record, one line: control characters in anything logged are escaped.

Object keys, file names and exception messages come from whoever uploads a sheet. A key such as
``in/x.jpg\\n2026-01-01 - herbmorph - INFO - done`` must not add a forged line to a log, and an
escape sequence (``\\x1b[2J``) or a bidi override must not reach a terminal. Every adapter's
logging goes through :class:`OneLineFormatter` (``herbmorph serve``, ``measure``, ``batch`` and
its workers, the OSCAR handler, faas-supervisor's own lines in the stage logs), and the lines the
handlers print themselves through :func:`escape_controls`. For handlers we do not set up
(``deepaas-run``'s), :func:`protect_handlers` adds :class:`EscapeFilter`.

``\\n``, ``\\r`` and ``\\t`` are written as such, other C0/C1 controls and DEL as ``\\xNN``, the
line and paragraph separators and the bidi controls as ``\\uNNNN``. A traceback is part of its
record, so it is escaped onto the same line too.
"""
from __future__ import annotations

import logging
import re
import sys

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _escape_one(m: re.Match) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def escape_controls(text) -> str:
    """``text`` with every control character escaped (linear time, printable text untouched)."""
    return _CONTROLS.sub(_escape_one, str(text))


class OneLineFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose every record, traceback included, is one line."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


class EscapeFilter(logging.Filter):
    """For a handler whose formatter is not ours: escapes the record's message and traceback in
    place (the message is rendered once, with its arguments, so ``%s`` of a key is escaped too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_herbmorph_escaped", False):
            record.msg, record.args = escape_controls(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = escape_controls(record.exc_text)
            if record.stack_info:
                record.stack_info = escape_controls(record.stack_info)
            record._herbmorph_escaped = True
        return True


def protect_handlers(logger: logging.Logger | None = None) -> None:
    """Add :class:`EscapeFilter` to ``logger``'s handlers (the root logger's by default), once."""
    logger = logging.getLogger() if logger is None else logger
    for handler in logger.handlers:
        if not any(isinstance(f, EscapeFilter) for f in handler.filters):
            handler.addFilter(EscapeFilter())


class _CurrentStderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (a warm worker redirects it per call)."""

    def __init__(self):
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def one_line_handler(stream=None, fmt: str = DEFAULT_FORMAT, datefmt: str | None = None) -> logging.Handler:
    """A stream handler with :class:`OneLineFormatter`; without ``stream``, the current ``sys.stderr``."""
    handler = _CurrentStderr() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(fmt, datefmt))
    return handler


def setup(level: int = logging.INFO, handler: logging.Handler | None = None, fmt: str = DEFAULT_FORMAT) -> logging.Handler:
    """The root logger's one handler for a herbmorph process: ``handler`` (its formatter replaced
    by :class:`OneLineFormatter` unless it already is one) or a stderr stream handler."""
    if handler is None:
        handler = one_line_handler(fmt=fmt)
    elif not isinstance(handler.formatter, OneLineFormatter):
        handler.setFormatter(OneLineFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return handler
