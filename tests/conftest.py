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
