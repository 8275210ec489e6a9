"""Open an input below a folder exactly once, never through a symbolic link.

Folder mode reads inputs that anyone with write access to the folder can swap: checking a path
and then opening it (``is_symlink()`` then ``copyfile``) leaves a window in which the file can
become a link to ``/etc/passwd`` or to another collection's sheet. Here each path component is
opened relative to its parent's descriptor with ``O_NOFOLLOW`` (a link anywhere in the path fails
the open itself), and the kind of file is judged on the opened descriptor (``fstat``), so what
is checked is what is read.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from .errors import HerbmorphError

_CHUNK = 1 << 20


class NotRegularFile(HerbmorphError):
    """The input is a symbolic link, or not a regular file (FIFO, device, socket, directory)."""

    kind = "not-a-regular-file"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(root: str | os.PathLike, rel: str) -> int:
    """A read-only descriptor for the regular file ``root/rel``.

    Raises :class:`NotRegularFile` (with the reason) for a symbolic link at any depth below
    ``root`` or a file that is not regular, ``FileNotFoundError`` when it is gone, and
    ``ValueError`` for a ``rel`` that is absolute or has empty, ``.`` or ``..`` parts.
    """
    parts = str(rel).split("/")
    if str(rel).startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a plain relative path: {rel!r}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EMLINK) or (exc.errno == errno.ENOTDIR and not last):
                    where = "/".join(parts[: i + 1])
                    what = "a symbolic link" if os.path.islink(os.path.join(root, where)) else "not a folder"
                    raise NotRegularFile(f"{where} is {what}; links are never followed") from None
                raise
            os.close(fd)
            fd = nfd
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{rel} is {_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        result, fd = fd, -1
        return result
    finally:
        if fd >= 0:
            os.close(fd)


def read_regular(root: str | os.PathLike, rel: str, max_bytes: Optional[int] = None) -> bytes:
    """The bytes of ``root/rel`` (see :func:`open_regular`); ``max_bytes`` is checked on the
    opened file and while reading, so a file that grows meanwhile cannot pass the limit."""
    fd = open_regular(root, rel)
    with os.fdopen(fd, "rb") as f:
        if max_bytes is not None and os.fstat(f.fileno()).st_size > max_bytes:
            raise HerbmorphError(f"{rel} is over the limit of {max_bytes:,} bytes", kind="too-large")
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise HerbmorphError(f"{rel} is over the limit of {max_bytes:,} bytes", kind="too-large")
    return data


def copy_regular(root: str | os.PathLike, rel: str, dest: str | os.PathLike) -> int:
    """Copy ``root/rel`` (opened once, see :func:`open_regular`) to the new file ``dest``."""
    fd = open_regular(root, rel)
    size = 0
    with os.fdopen(fd, "rb") as src, open(dest, "xb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size
