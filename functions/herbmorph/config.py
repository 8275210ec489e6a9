"""Settings shared by every entry point; each can be overridden by an env var (OSCAR passes them
as FDL ``environment.variables``) or by a CLI flag."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent.parent
# Shipped weights live at the repo root (models/); a container sets the env vars instead.
DEFAULT_MODELS_DIR = Path(os.environ.get("HERBMORPH_MODELS_DIR", REPO_DIR / "models"))


def sample_sheets() -> list[Path]:
    """What the benchmarks run on by default: the real sheets in ``../shared`` (when it is beside
    the checkout), then the synthetic ones bundled in ``samples/``."""
    real = sorted((REPO_DIR.parent / "shared" / "samples" / "real-sheets").glob("*.jpg"))
    return real + sorted((REPO_DIR / "samples").glob("*.jpg"))


def _env(name: str, default, env=None):
    raw = (os.environ if env is None else env).get(name)
    if raw is None or raw == "":
        return default
    return type(default)(raw) if default is not None else raw


#: the environment variable (FDL ``environment`` variable, container env) behind each setting
ENV_NAMES = {
    "segment_weights": "HERBMORPH_SEGMENT_WEIGHTS", "scale_weights": "HERBMORPH_SCALE_WEIGHTS",
    "imgsz": "HERBMORPH_IMGSZ", "conf": "HERBMORPH_CONF", "scale_imgsz": "HERBMORPH_SCALE_IMGSZ",
    "scale_conf": "HERBMORPH_SCALE_CONF", "max_pixels": "HERBMORPH_MAX_PIXELS",
    "max_bytes": "HERBMORPH_MAX_BYTES", "device": "HERBMORPH_DEVICE",
}


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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """The settings one call's environment names (a warm worker serves calls whose FDL
        variables differ from its own start-up environment), the defaults for the rest."""
        base = cls()
        kw = {}
        for name, var in ENV_NAMES.items():
            default = getattr(base, name)
            value = _env(var, None, env)
            if value is not None:
                kw[name] = Path(value) if isinstance(default, Path) else type(default)(value)
        return replace(base, **kw)

    def with_overrides(self, **kw) -> "Settings":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})
