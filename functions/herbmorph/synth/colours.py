"""Colours of pressed, dried plant material.

A dried leaf's colour lies on one path, from the green of a quickly dried leaf through olive,
yellow-brown and brown to the near black of a leaf that dried slowly (anchors picked by eye from
real herbarium scans: the median plant pixel of real sheets runs from (80, 79, 42) olive and
(152, 119, 45) yellow-olive to (110, 71, 45) red-brown and (74, 53, 32) dark brown). A specimen
gets one place on the path (its leaves dried alike), each leaf a little jitter around it, and
within a leaf the place drifts (edges and blotches dry browner). Flowers, fruits, roots and seeds
have faded palettes of their own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# dryness t -> RGB, piecewise linear
DRY_T = np.array([0.0, 0.12, 0.25, 0.38, 0.5, 0.62, 0.75, 0.87, 1.0], np.float32)
DRY_RGB = np.array([
    [66, 98, 50],     # green
    [74, 90, 42],     # dark green
    [102, 99, 56],    # olive
    [142, 121, 58],   # yellow-olive
    [160, 128, 80],   # yellow-brown
    [130, 100, 66],   # brown
    [110, 74, 46],    # red-brown
    [72, 56, 36],     # dark brown
    [38, 33, 28],     # near black
], np.float32)
STRAW = np.array([204, 178, 128], np.float32)    # bleached grass, pale undersides
GREY = np.array([150, 142, 124], np.float32)     # hairy (tomentose) leaves
UNDER = np.array([200, 192, 160], np.float32)    # what an underside's hairs and wax lighten towards

FLOWER_COLOURS = np.array([
    [110, 70, 92], [150, 108, 132], [200, 168, 80], [214, 198, 158], [180, 110, 62],
    [112, 46, 42], [112, 110, 142], [196, 182, 148], [120, 84, 56], [170, 72, 70], [86, 60, 78],
], np.float32)
FRUIT_COLOURS = np.array([
    [46, 36, 36], [100, 46, 36], [188, 110, 52], [130, 90, 56], [110, 108, 60], [168, 134, 86],
    [70, 46, 34], [140, 70, 40],
], np.float32)
ROOT_COLOURS = np.array([
    [110, 86, 60], [140, 116, 86], [82, 64, 46], [162, 142, 110], [62, 50, 38], [124, 104, 82],
], np.float32)
SEED_COLOURS = np.array([
    [70, 48, 32], [40, 34, 30], [130, 96, 58], [160, 128, 84], [100, 70, 40], [60, 60, 56],
    [190, 160, 112], [120, 60, 40],
], np.float32)


def dry_colour(t) -> np.ndarray:
    """RGB (float32) at dryness ``t`` (scalar or array, clipped to [0, 1]); shape (..., 3)."""
    t = np.clip(np.asarray(t, np.float32), 0.0, 1.0)
    return np.stack([np.interp(t, DRY_T, DRY_RGB[:, c]) for c in range(3)], -1).astype(np.float32)


@dataclass
class Tone:
    """How one specimen dried: place on the path, brightness, and a pull towards straw or grey."""
    t: float
    bright: float
    tint: np.ndarray
    tint_w: float

    def at(self, t) -> np.ndarray:
        c = dry_colour(t) * self.bright
        return c * (1 - self.tint_w) + self.tint * self.tint_w

    def leaf(self, rng: np.random.Generator, spread: float = 0.06) -> "Tone":
        """One leaf of this specimen: jitter, now and then an odd one out (older, browner)."""
        t = self.t + rng.normal(0, spread)
        if rng.random() < 0.12:
            t += rng.uniform(0.1, 0.3) * (1 if rng.random() < 0.7 else -1)
        return Tone(float(np.clip(t, 0, 1)), self.bright * rng.uniform(0.93, 1.07), self.tint,
                    self.tint_w)

    def stem(self, rng: np.random.Generator) -> "Tone":
        """Stems dry browner and often darker than their leaves."""
        return Tone(float(np.clip(self.t + rng.uniform(0.05, 0.3), 0, 1)),
                    self.bright * rng.uniform(0.8, 1.05), self.tint, self.tint_w * 0.7)


def specimen_tone(rng: np.random.Generator, grass: bool = False) -> Tone:
    """A specimen's drying: mostly olive to brown, some green, some near black; grasses often
    bleached to straw."""
    u = rng.random()
    if u < 0.18:
        t = rng.uniform(0.0, 0.25)          # dried green
    elif u < 0.9:
        t = rng.beta(2.2, 2.2) * 0.8 + 0.15  # olive .. dark brown
    else:
        t = rng.uniform(0.8, 1.0)           # blackened
    tint, w = STRAW, 0.0
    v = rng.random()
    if grass and v < 0.55:
        tint, w = STRAW, rng.uniform(0.3, 0.75)
    elif v < 0.12:
        tint, w = STRAW, rng.uniform(0.15, 0.45)
    elif v < 0.22:
        tint, w = GREY, rng.uniform(0.2, 0.5)
    return Tone(float(t), float(rng.uniform(0.85, 1.2)), tint, float(w))


def underside(c: np.ndarray, amount: float) -> np.ndarray:
    """The lower face of a leaf: paler and greyer."""
    return c * (1 - amount) + UNDER * amount


def pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 4.0) -> np.ndarray:
    """A palette colour with brightness and slight per-channel jitter (no odd hues)."""
    c = palette[rng.integers(0, len(palette))] * rng.uniform(0.82, 1.15) + rng.normal(0, jitter, 3)
    return np.clip(c, 0, 255).astype(np.float32)
