"""Reading a source's encoded bytes under the byte limit: bytes, a path or a binary file object.

A path is ``stat``-ed first, so an over-size file is refused before a single byte is read; every
read is bounded to ``max_bytes + 1`` even when the file grows or is not regular.
"""
from __future__ import annotations

import hashlib
import os
import stat
from typing import IO, Union

from ..results import ImageInfo
from .diagnose import _fail

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]

BYTES_URI = "<bytes>"


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _default_uri(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        p = os.fspath(source)
        return p.decode(errors="replace") if isinstance(p, bytes) else p
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    return BYTES_URI


def _too_large(uri: str, size: int, max_bytes: int, info: ImageInfo, at_least: bool = False):
    info.size_bytes = size if not at_least else None
    more = "more than " if at_least else ""
    _fail(
        "too-large",
        f"{uri} is {more}{size:,} bytes, over the limit of {max_bytes:,} bytes "
        f"(max_bytes / HERBMORPH_MAX_BYTES)",
        info,
    )


def _read_source(source: Source, uri: str, max_bytes: int, info: ImageInfo) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            _too_large(uri, len(data), max_bytes, info)
        return data
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            st = os.stat(path)
        except FileNotFoundError as e:
            _fail("not-found", f"{uri}: no such file", info, e)
        except OSError as e:
            _fail("unreadable", f"{uri}: cannot be read ({e.strerror or e})", info, e)
        if stat.S_ISDIR(st.st_mode):
            _fail("not-an-image", f"{uri} is a directory, not an image file", info)
        if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
            # refuse before reading a single byte
            _too_large(uri, st.st_size, max_bytes, info)
        try:
            with open(path, "rb") as f:
                data = f.read(max_bytes + 1)  # bounded even if the file grows or is not regular
        except OSError as e:
            _fail("unreadable", f"{uri}: cannot be read ({e.strerror or e})", info, e)
        if len(data) > max_bytes:
            _too_large(uri, max_bytes, max_bytes, info, at_least=True)
        return data
    if hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("load_image: file objects must be opened in binary mode")
        if len(data) > max_bytes:
            _too_large(uri, max_bytes, max_bytes, info, at_least=True)
        return bytes(data)
    raise TypeError(f"load_image: unsupported source type {type(source).__name__}")
