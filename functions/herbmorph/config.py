"""Settings shared by every entry point; each can be overridden by an env var (OSCAR passes them
as FDL ``environment.variables``) or by a CLI flag."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent.parent
# Shipped weights live at the repo root (models/); a container sets the env vars instead.
DEFAULT_MODELS_DIR = Path(os.environ.get("HERBMORPH_MODELS_DIR", REPO_DIR / "models"))


def sample_sheets() -> list[Path]:
    """What the benchmarks run on by default: the real sheets in ``../shared`` (when it is beside
    the checkout), then the synthetic ones bundled in ``samples/``."""
    real = sorted((REPO_DIR.parent / "shared" / "samples" / "real-sheets").glob("*.jpg"))
    return real + sorted((REPO_DIR / "samples").glob("*.jpg"))


def _env(name: str, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return type(default)(raw) if default is not None else raw


@dataclass(frozen=True)
class Settings:
    segment_weights: Path = field(default_factory=lambda: Path(_env("HERBMORPH_SEGMENT_WEIGHTS", str(DEFAULT_MODELS_DIR / "segment.pt"))))
    scale_weights: Path = field(default_factory=lambda: Path(_env("HERBMORPH_SCALE_WEIGHTS", str(DEFAULT_MODELS_DIR / "scale.pt"))))
    imgsz: int = field(default_factory=lambda: _env("HERBMORPH_IMGSZ", 1024))
    conf: float = field(default_factory=lambda: _env("HERBMORPH_CONF", 0.5))
    scale_imgsz: int = field(default_factory=lambda: _env("HERBMORPH_SCALE_IMGSZ", 416))
    # Low on purpose: the small ruler detector often sees a ruler as several weak fragments,
    # which scale.core merges; a non-ruler box costs a null from the reader, never a guess.
    scale_conf: float = field(default_factory=lambda: _env("HERBMORPH_SCALE_CONF", 0.02))
    # Refuse decoded images above this many pixels (decompression bombs).
    max_pixels: int = field(default_factory=lambda: _env("HERBMORPH_MAX_PIXELS", 120_000_000))
    # Refuse encoded inputs above this many bytes.
    max_bytes: int = field(default_factory=lambda: _env("HERBMORPH_MAX_BYTES", 200 * 1024 * 1024))
    device: str = field(default_factory=lambda: _env("HERBMORPH_DEVICE", ""))

    def with_overrides(self, **kw) -> "Settings":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})
