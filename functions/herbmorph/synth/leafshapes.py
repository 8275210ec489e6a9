"""Leaf geometry in the leaf's own frame (cm): petiole base at (0, 0), axis along +x.

A leaf is blades (closed polygons), stalks (petiole, rachis: polylines that belong to the mask)
and veins (polylines that are only painted). Shapes: simple blades (ovate, elliptic, lanceolate,
obovate, cordate, linear) with entire, serrate, dentate or crenate margins; pinnately lobed (oak)
and palmately lobed (maple) blades; pinnate, trifoliate and palmately compound leaves; needle
fascicles; grass blades. :func:`bend` then curves the whole frame along the axis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .draw import rot

SIMPLE = ("ovate", "elliptic", "lanceolate", "obovate", "cordate", "linear")
SHAPES = SIMPLE + ("lobed", "palmate", "compound", "trifoliate", "digitate", "needle", "blade")


@dataclass
class LeafGeom:
    blades: list = field(default_factory=list)   # closed polygons (cm)
    stalks: list = field(default_factory=list)   # (polyline cm, width cm): part of the mask
    veins: list = field(default_factory=list)    # (polyline cm, width cm, rank 0 = midrib)
    length: float = 1.0                          # along the axis, petiole included
    width: float = 1.0


def _profile(rng, shape: str, t: np.ndarray) -> np.ndarray:
    """Half-width (0..1) along the blade, t = 0 at the base, 1 at the tip."""
    if shape == "obovate":
        f = np.sin(np.pi * t ** rng.uniform(1.3, 1.8)) ** 0.8
    elif shape == "lanceolate":
        f = np.sin(np.pi * t ** rng.uniform(0.7, 1.0)) ** rng.uniform(0.7, 1.0)
    elif shape == "cordate":
        f = np.sin(np.pi * t ** rng.uniform(0.55, 0.75)) ** 0.6
    elif shape in ("linear", "blade"):
        tip = rng.uniform(0.15, 0.4)
        f = np.sqrt(np.clip(t / 0.03, 0, 1)) * np.clip((1 - t) / tip, 0, 1) ** rng.uniform(0.6, 1.0)
    elif shape == "needle":
        f = np.sqrt(np.clip(t / 0.05, 0, 1)) * np.clip((1 - t) / 0.1, 0, 1) ** 0.7
    else:  # ovate / elliptic / lobed
        f = np.sin(np.pi * t ** rng.uniform(0.75, 1.1)) ** rng.uniform(0.6, 0.9)
    if shape in ("ovate", "elliptic", "lanceolate", "obovate") and rng.random() < 0.35:
        f = f * np.clip((1 - t) / rng.uniform(0.08, 0.2), 0.35, 1) ** 0.5  # drawn-out (acuminate) tip
    return f


def _margin(rng, kind: str, t: np.ndarray, teeth: int, amp: float) -> np.ndarray:
    """Multiplier on the half-width that cuts teeth into the margin."""
    if kind == "serrate":  # teeth leaning towards the tip: slow rise, sharp drop
        saw = (teeth * t + rng.uniform(0, 1)) % 1.0
        return 1 + amp * (saw ** 1.5 - 0.4)
    if kind == "dentate":
        return 1 + amp * np.abs(np.sin(np.pi * teeth * t)) ** 3
    if kind == "crenate":
        return 1 + amp * np.abs(np.sin(np.pi * teeth * t)) ** 0.5
    return np.ones_like(t)


def simple_blade(rng, g: LeafGeom, x0: float, L: float, W: float, shape: str,
                 margin: str = "entire", lobes: int = 0, veins: bool = True) -> None:
    """One blade from x0 to x0 + L on the axis, half-width W/2 at its widest."""
    teeth = int(rng.integers(8, 45)) if margin != "entire" else 0
    n = max(60, 8 * teeth, 14 * lobes)
    t = np.linspace(0, 1, n)
    f = _profile(rng, shape, t)
    m_up = _margin(rng, margin, t, teeth, rng.uniform(0.03, 0.09))
    m_lo = m_up if rng.random() < 0.5 else _margin(rng, margin, t, teeth, rng.uniform(0.03, 0.09))
    if lobes:  # pinnately lobed: rounded sinuses cut towards the midrib
        depth = rng.uniform(0.35, 0.75)
        ph = rng.uniform(0, 1)
        sharp = rng.uniform(0.6, 2.0)
        env = np.clip((t - 0.06) / 0.1, 0, 1) * np.clip((0.95 - t) / 0.1, 0, 1)
        cut_up = depth * env * (0.5 + 0.5 * np.cos(2 * np.pi * (lobes * t + ph))) ** sharp
        off = 0.5 if rng.random() < 0.6 else 0.0
        cut_lo = depth * env * (0.5 + 0.5 * np.cos(2 * np.pi * (lobes * t + ph + off))) ** sharp
        m_up, m_lo = m_up * (1 - cut_up), m_lo * (1 - cut_lo)
    asym = rng.uniform(0.88, 1.12)
    hw_up, hw_lo = W / 2 * f * m_up, W / 2 * f * m_lo * asym
    x = x0 + t * L
    up = np.stack([x, hw_up], 1)
    lo = np.stack([x[::-1], -hw_lo[::-1]], 1)
    pts = np.concatenate([up, lo[1:-1]])
    if shape == "cordate":  # pull the base back into two rounded lobes
        b = pts[:, 0] < x0 + 0.15 * L
        pts[b, 0] -= 0.1 * L * np.abs(pts[b, 1]) / max(W / 2, 1e-6)
    g.blades.append(pts)
    if not veins:
        return
    g.veins.append((np.stack([x[: int(n * 0.97)], 0 * x[: int(n * 0.97)]], 1), 1.0, 0))
    if shape in ("linear", "blade", "needle"):  # parallel venation
        nk = int(rng.integers(1, 4))
        for k in range(nk):
            fr = (k + 1) / (nk + 1) * 0.9
            for s, hw in ((1, hw_up), (-1, hw_lo)):
                g.veins.append((np.stack([x, s * fr * hw], 1)[2:-2], 0.25, 2))
        return
    nv = int(rng.integers(4, 12))
    ang = rng.uniform(0.5, 1.1)   # secondaries leave the midrib at 30–60°
    for i in range(nv):
        ti = (i + 0.6) / (nv + 0.4)
        for s, hw in ((1, hw_up), (-1, hw_lo)):
            j = min(n - 1, int((ti + 0.02) * n))
            reach = 0.85 * max(hw[min(n - 1, j + int(0.1 * n))], hw[j] * 0.6)
            if reach <= 0:
                continue
            run = reach / np.tan(ang)
            q = np.linspace(0, 1, 6)
            vx = x0 + ti * L + run * q + 0.25 * run * q ** 2
            vy = s * reach * np.sin(q * np.pi / 2)
            g.veins.append((np.stack([vx, vy], 1), 0.45, 1))


def palmate_blade(rng, g: LeafGeom, cx: float, R: float, lobes: int, margin: str) -> None:
    """Palmately lobed blade around the petiole's end at (cx, 0); lobe tips fan out over ±spread."""
    spread = rng.uniform(0.55, 0.85) * np.pi
    th = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    tips = np.linspace(-spread, spread, lobes)
    lens = 1 - rng.uniform(0.15, 0.4) * np.abs(tips / spread) ** 1.5
    w = spread / max(1, lobes - 1) * rng.uniform(0.8, 1.3)
    shape_p = rng.uniform(0.6, 2.0)      # broad (maple) .. narrow (sweetgum) lobes
    base = rng.uniform(0.2, 0.5)
    lobe = np.zeros_like(th)
    for tj, lj in zip(tips, lens):
        d = np.angle(np.exp(1j * (th - tj)))
        lobe = np.maximum(lobe, lj * np.clip(np.cos(np.clip(d / w, -1, 1) * np.pi / 2), 0, 1) ** shape_p)
    r = R * (base + (1 - base) * lobe)
    r *= 1 - 0.6 * np.exp(-(np.angle(np.exp(1j * (th - np.pi))) ** 2) / 0.05)  # sinus at the petiole
    if margin != "entire":
        teeth = int(rng.integers(30, 90))
        r *= _margin(rng, margin, (th + np.pi) / (2 * np.pi), teeth, rng.uniform(0.02, 0.05))
    g.blades.append(np.stack([cx + r * np.cos(th), r * np.sin(th)], 1))
    for tj, lj in zip(tips, lens):
        q = np.linspace(0, 0.9, 8)
        g.veins.append((np.stack([cx + q * R * lj * np.cos(tj), q * R * lj * np.sin(tj)], 1), 0.8, 0))
        for k in range(int(rng.integers(2, 5))):
            a = rng.uniform(0.2, 0.75) * R * lj
            p = np.array([cx + a * np.cos(tj), a * np.sin(tj)])
            s = rng.choice([-1, 1])
            d = np.array([np.cos(tj + s * 0.8), np.sin(tj + s * 0.8)]) * 0.3 * R * lj
            g.veins.append((np.stack([p, p + d]), 0.4, 1))


def leaflet(rng, g: LeafGeom, at: np.ndarray, angle: float, L: float, W: float, shape: str,
            margin: str) -> None:
    """A leaflet on a short stalk: built as a blade in its own frame, turned onto ``at``."""
    sub = LeafGeom()
    stalk = L * rng.uniform(0.0, 0.12)
    simple_blade(rng, sub, stalk, L, W, shape, margin)
    R = rot(angle)
    g.blades += [p @ R.T + at for p in sub.blades]
    g.veins += [(p @ R.T + at, w * 0.8, rank) for p, w, rank in sub.veins]
    if stalk > 0:
        g.stalks.append((np.array([at, at + R @ [stalk + 0.05 * L, 0]]), max(0.03, 0.05 * W)))


def geometry(rng, shape: str, L: float) -> LeafGeom:
    """Leaf geometry of about ``L`` cm (blade length; a compound leaf's rachis)."""
    g = LeafGeom()
    margin = str(rng.choice(["entire", "serrate", "dentate", "crenate"], p=[0.5, 0.3, 0.1, 0.1]))
    if shape in ("needle", "blade", "linear"):
        margin = "entire"
    pet = L * rng.uniform(0.03, 0.25) if shape not in ("blade", "needle") else 0.0
    if shape in SIMPLE or shape == "lobed":
        W = L * {"lanceolate": rng.uniform(0.1, 0.3), "obovate": rng.uniform(0.35, 0.6),
                 "cordate": rng.uniform(0.5, 0.9), "linear": rng.uniform(0.04, 0.12),
                 "lobed": rng.uniform(0.45, 0.8)}.get(shape, rng.uniform(0.3, 0.6))
        simple_blade(rng, g, pet, L, W, shape, margin, lobes=int(rng.integers(3, 7)) if shape == "lobed" else 0)
        g.stalks.append((np.array([[0, 0], [pet + 0.05 * L, 0]]), max(0.04, 0.035 * W)))
        g.length, g.width = pet + L, W
    elif shape == "palmate":
        R = L / 2
        simple = LeafGeom()
        palmate_blade(rng, simple, pet + R * 0.45, R, int(rng.choice([3, 5, 5, 7])), margin)
        g.blades, g.veins = simple.blades, simple.veins
        g.stalks.append((np.array([[0, 0], [pet + R * 0.5, 0]]), max(0.05, 0.03 * L)))
        g.length, g.width = pet + R * 1.45, 2 * R
    elif shape == "compound":  # pinnate: pairs of leaflets and one at the end
        pairs = int(rng.integers(2, 8))
        lf = L / (pairs + 1) * rng.uniform(1.1, 2.0)
        ws = rng.uniform(0.25, 0.5)
        lshape = str(rng.choice(["ovate", "elliptic", "lanceolate"]))
        for i in range(pairs):
            px = pet + L * (i + 0.5) / (pairs + 0.5)
            for s in (-1, 1):
                leaflet(rng, g, np.array([px, 0.0]), s * rng.uniform(0.7, 1.2), lf * rng.uniform(0.85, 1.1),
                        lf * ws, lshape, margin)
        leaflet(rng, g, np.array([pet + L, 0.0]), rng.normal(0, 0.1), lf, lf * ws, lshape, margin)
        g.stalks.append((np.array([[0, 0], [pet + L + 0.05 * lf, 0]]), max(0.04, 0.012 * L)))
        g.length, g.width = pet + L + lf, 2 * lf
    elif shape in ("trifoliate", "digitate"):  # leaflets fanning from the petiole's end
        k = 3 if shape == "trifoliate" else int(rng.integers(5, 8))
        lf = L * rng.uniform(0.5, 0.8)
        pet = L * rng.uniform(0.3, 0.8)
        fan = rng.uniform(0.8, 1.3) if k == 3 else rng.uniform(1.6, 2.6)
        lshape = str(rng.choice(["ovate", "elliptic", "lanceolate", "obovate"]))
        for a in np.linspace(-fan / 2, fan / 2, k):
            leaflet(rng, g, np.array([pet, 0.0]), a, lf * (1 - 0.25 * abs(a) / fan), lf * rng.uniform(0.3, 0.5),
                    lshape, margin)
        g.stalks.append((np.array([[0, 0], [pet, 0]]), max(0.04, 0.012 * L)))
        g.length, g.width = pet + lf, 2 * lf
    elif shape == "needle":  # a fascicle of 1–5 needles from a short sheath
        k = int(rng.choice([1, 2, 2, 3, 5]))
        W = rng.uniform(0.06, 0.18)
        spread = rng.uniform(0.05, 0.35)
        for a in np.linspace(-spread / 2, spread / 2, k) if k > 1 else [0.0]:
            sub = LeafGeom()
            simple_blade(rng, sub, 0.0, L * rng.uniform(0.9, 1.0), W, "needle", "entire", veins=False)
            g.blades += [p @ rot(a).T for p in sub.blades]
        g.stalks.append((np.array([[0, 0], [min(0.8, 0.1 * L), 0]]), W * 1.6))
        g.veins.append((np.array([[0.0, 0.0], [L * 0.9, 0.0]]), 0.3, 0))
        g.length, g.width = L, W * k
    else:  # grass blade
        W = float(np.clip(rng.lognormal(np.log(0.35), 0.55), 0.08, 1.6))  # mostly narrow; sedges and reeds wider
        simple_blade(rng, g, 0.0, L, W, "blade", "entire")
        g.length, g.width = L, W
    return g


def bend(g: LeafGeom, heading) -> LeafGeom:
    """Curve the frame: the axis follows ``heading(s)`` (radians, s = 0..length in cm); a point
    (x, y) goes to the axis point at s = x plus y along the axis' normal."""
    s = np.linspace(-1.0, g.length * 1.3 + 1.0, 256)
    h = heading(np.clip(s, 0, None))
    ds = np.diff(s, prepend=s[0])
    cx, cy = np.cumsum(np.cos(h) * ds), np.cumsum(np.sin(h) * ds)
    cx, cy = cx - np.interp(0.0, s, cx), cy - np.interp(0.0, s, cy)

    def f(p):
        p = np.asarray(p, np.float64)
        hx = np.interp(p[:, 0], s, h)
        return np.stack([np.interp(p[:, 0], s, cx) - np.sin(hx) * p[:, 1],
                         np.interp(p[:, 0], s, cy) + np.cos(hx) * p[:, 1]], 1)

    parts = g.blades + [_dense(p) for p, _ in g.stalks] + [_dense(p) for p, _, _ in g.veins]
    mapped = np.split(f(np.concatenate(parts)), np.cumsum([len(p) for p in parts])[:-1])  # one pass
    nb, ns = len(g.blades), len(g.stalks)
    return LeafGeom(mapped[:nb], [(q, w) for q, (_, w) in zip(mapped[nb:nb + ns], g.stalks)],
                    [(q, w, r) for q, (_, w, r) in zip(mapped[nb + ns:], g.veins)], g.length, g.width)


def _dense(p: np.ndarray, n: int = 24) -> np.ndarray:
    """A polyline with at least ``n`` points, so that it follows the bend (straight pieces would not)."""
    p = np.asarray(p, np.float64)
    if len(p) >= 6:  # short curves (secondary veins) follow a bend well enough; straight 2-point pieces do not
        return p
    seg = np.r_[0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
    if seg[-1] <= 0:
        return p
    u = np.linspace(0, seg[-1], n)
    return np.stack([np.interp(u, seg, p[:, 0]), np.interp(u, seg, p[:, 1])], 1)
