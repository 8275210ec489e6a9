"""The decoded-pixel cache the chain's stages share on one machine (herbmorph.oscar.pixels)."""
from __future__ import annotations

import os

import numpy as np

from herbmorph.oscar.pixels import PixelCache

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def _rgb(seed: int, h: int = 40, w: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_an_entry_comes_back_as_the_same_pixels_read_only(tmp_path):
    cache = PixelCache(tmp_path / "px")
    rgb = _rgb(1)
    cache.put(SHA_A, rgb)
    got = cache.get(SHA_A, max_pixels=10_000)
    assert got is not None and np.array_equal(got, rgb)
    assert not got.flags.writeable  # mapped from the shared file, never written through
    assert cache.get(SHA_B, max_pixels=10_000) is None
    cache.drop(SHA_A)
    assert cache.get(SHA_A, max_pixels=10_000) is None and not list((tmp_path / "px").iterdir())


def test_keys_that_are_not_a_sha256_never_become_paths(tmp_path):
    cache = PixelCache(tmp_path / "px")
    for key in ("../escape", "A" * 64, "a" * 63, "", None, "a" * 64 + "/x", "a" * 32 + "/../" + "a" * 28):
        cache.put(key, _rgb(2))
        assert cache.get(key, max_pixels=10_000) is None
        cache.drop(key)
    assert not (tmp_path / "px").exists() or not list((tmp_path / "px").iterdir())
    assert not (tmp_path / "escape.npy").exists()


def test_an_entry_over_the_stage_pixel_limit_or_not_rgb_is_ignored(tmp_path):
    cache = PixelCache(tmp_path / "px")
    cache.put(SHA_A, _rgb(3, 40, 30))
    assert cache.get(SHA_A, max_pixels=40 * 30 - 1) is None
    np.save(tmp_path / "px" / f"{SHA_B}.npy", np.zeros((4, 4), np.float32))
    assert cache.get(SHA_B, max_pixels=10_000) is None
    (tmp_path / "px" / f"{SHA_C}.npy").write_bytes(b"not numpy")
    assert cache.get(SHA_C, max_pixels=10_000) is None


def test_the_oldest_entries_go_when_the_folder_is_full(tmp_path):
    one = _rgb(4).nbytes + 128  # array plus .npy header
    cache = PixelCache(tmp_path / "px", limit_bytes=2 * one)
    for i, sha in enumerate((SHA_A, SHA_B, SHA_C)):
        cache.put(sha, _rgb(i))
        os.utime(tmp_path / "px" / f"{sha}.npy", (1000 + i, 1000 + i))
    assert sorted(p.stem for p in (tmp_path / "px").glob("*.npy")) == [SHA_B, SHA_C]


def test_from_env(tmp_path):
    assert PixelCache.from_env({}) is None
    cache = PixelCache.from_env({"HERBMORPH_PIXEL_CACHE": str(tmp_path), "HERBMORPH_PIXEL_CACHE_MB": "3"})
    assert cache.root == tmp_path and cache.limit_bytes == 3 * 2**20
