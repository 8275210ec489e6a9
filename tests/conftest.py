"""Shared fixtures: the shipped models are loaded once per test session (as every adapter does)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions"))
SHARED = REPO.parent / "shared"
REAL_SHEETS = SHARED / "samples" / "real-sheets"
SAMPLES = sorted((REPO / "samples").glob("*.jpg"))


@pytest.fixture(scope="session")
def pipeline():
    from herbmorph.pipeline import Pipeline

    return Pipeline().setup()


@pytest.fixture()
def minio_server(tmp_path):
    """A real MinIO on 127.0.0.1 (the binary scripts/setup.sh installs), fresh per test.

    Yields a :class:`herbmorph.localminio.LocalMinio` (``.endpoint``, ``.access_key``,
    ``.secret_key``, ``.client()``, ``.env()``).
    """
    from herbmorph.localminio import LocalMinio, find_minio_binary

    if find_minio_binary() is None:
        pytest.fail("no minio binary: scripts/setup.sh installs one with `go install`")
    with LocalMinio(tmp_path / "minio-data") as server:
        yield server
