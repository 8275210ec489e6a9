"""Decoded pixels shared by the three stages on one machine, keyed by the original's sha256.

Every stage of the chain needs the original's pixels, and decoding a large scan costs more than
any other step around the models (~0.2 s for a 17 MP JPEG). When the stages run on one machine
(``herbmorph serve``, or OSCAR pods sharing a volume), ``HERBMORPH_PIXEL_CACHE=DIR`` lets segment
leave the decoded array behind for scale and area. They still fetch the original and check its
sha256 against the stage document (so a replaced original is still caught as stale); only the
decode is skipped. Entries are content-addressed, so a hit is the very array segmentation saw.
The area stage drops the entry when the chain ends; the oldest entries go when the folder grows
past ``HERBMORPH_PIXEL_CACHE_MB`` (default 2048).
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_LIMIT_MB = 2048


class PixelCache:
    def __init__(self, root: str | os.PathLike, limit_bytes: int = DEFAULT_LIMIT_MB * 2**20):
        self.root, self.limit_bytes = Path(root), limit_bytes

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Optional["PixelCache"]:
        root = env.get("HERBMORPH_PIXEL_CACHE")
        if not root:
            return None
        try:
            limit_mb = int(env.get("HERBMORPH_PIXEL_CACHE_MB") or DEFAULT_LIMIT_MB)
        except ValueError:
            limit_mb = DEFAULT_LIMIT_MB
        return cls(root, limit_mb * 2**20)

    def _path(self, sha256: Optional[str]) -> Optional[Path]:
        # The key comes from a stage document, which anyone with write access to the bucket
        # could forge: only a bare hex digest may become a file name.
        return self.root / f"{sha256}.npy" if sha256 and _SHA256.match(sha256) else None

    def put(self, sha256: Optional[str], rgb: np.ndarray) -> None:
        """Best effort: a full disk or a read-only folder only costs the later stages a decode."""
        path = self._path(sha256)
        if path is None or path.exists():
            return
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._prune(rgb.nbytes)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(rgb), allow_pickle=False)
            os.replace(tmp, path)  # readers see a whole file or none
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def get(self, sha256: Optional[str], max_pixels: int) -> Optional[np.ndarray]:
        path = self._path(sha256)
        if path is None:
            return None
        try:
            # Mapped read-only, not copied: a fresh 50 MB array costs ~0.15 s in page faults
            # alone, the mapping shares the page cache (and the stages only read their input).
            rgb = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        # Only an H x W x 3 byte image within this stage's own pixel limit is taken as is.
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] * rgb.shape[1] > max_pixels:
            return None
        return rgb

    def drop(self, sha256: Optional[str]) -> None:
        path = self._path(sha256)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def _prune(self, incoming: int) -> None:
        """Remove the oldest entries until ``incoming`` more bytes fit under the limit."""
        entries = []
        for p in self.root.glob("*.npy"):
            with contextlib.suppress(OSError):
                st = p.stat()
                entries.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if total + incoming <= self.limit_bytes:
                break
            with contextlib.suppress(OSError):
                p.unlink()
            total -= size
