"""Whole specimens as they are mounted: a leafy branch, herbs with their roots, grass tufts, a
sheet of loose leaves, a conifer twig, or fragments (fruits, seeds, twigs) for a carpological
sheet. A specimen dries alike (one :class:`~herbmorph.synth.colours.Tone`) and has one leaf
shape; its parts are placed root, stem, leaves, then flowers and fruits, each on top of what
came before.
"""
from __future__ import annotations

import numpy as np

from .colours import specimen_tone
from .leaves import make_leaf, random_shape
from .organs import make_flower, make_fruit, make_root, make_stem, stem_path
from .placement import PlantBed

KINDS = {"branch": 0.34, "herb": 0.32, "grass": 0.15, "leaves": 0.1, "conifer": 0.04, "fragments": 0.05}
BRANCH_SHAPES = ("ovate", "elliptic", "lanceolate", "obovate", "cordate", "lobed", "palmate", "compound",
                 "trifoliate", "digitate", "linear")
HERB_SHAPES = ("ovate", "elliptic", "lanceolate", "linear", "lobed", "palmate", "compound", "cordate")


def _heading(path: np.ndarray, k: int) -> float:
    d = path[min(k + 1, len(path) - 1)] - path[max(k - 1, 0)]
    return float(np.arctan2(d[1], d[0]))


def _towards_middle(bed: PlantBed, p: np.ndarray, rng) -> float:
    x0, y0, x1, y1 = bed.paper_cm
    d = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - p
    return float(np.arctan2(d[1], d[0]) + rng.normal(0, 0.35))


def tree(bed: PlantBed, base, heading: float, length: float, w0: float, curl: float, branches: int,
         spread=(0.3, 1.0), depth: int = 0, step: float = 0.5) -> list:
    """A branching axis system (cm): [(path, base width, tip width), ...], cut at the paper's
    edge and at rulers."""
    rng = bed.rng
    path = bed.clip_path(stem_path(rng, base, heading, length, curl, step), w0)
    if len(path) < 4:
        return []
    w1 = w0 * rng.uniform(0.25, 0.55)
    axes = [(path, w0, w1)]
    for _ in range(branches if depth < 2 else 0):
        k = int(rng.integers(len(path) // 6, max(len(path) // 6 + 1, len(path) - 3)))
        frac = k / len(path)
        h = _heading(path, k) + rng.choice([-1, 1]) * rng.uniform(*spread)
        axes += tree(bed, path[k], h, length * (1 - frac) * rng.uniform(0.3, 0.8), (w0 + (w1 - w0) * frac) * rng.uniform(0.5, 0.8),
                     curl, int(rng.integers(0, 3)) if depth == 0 else 0, spread, depth + 1, step)
    return axes


def place_stem(bed: PlantBed, axes: list, tone, overlap: float = 0.1) -> bool:
    if not axes or not bed.try_place(make_stem(bed.rng, bed.ppc, axes, tone), max_overlap=overlap, max_hidden=0.3):
        return False
    bed.axes += [(p, w0) for p, w0, _ in axes]
    return True


def grow(bed: PlantBed, tone, base_fn, length: float, w0: float, curl: float, branches: int,
         spread=(0.3, 1.0), step: float = 0.5, overlap: float = 0.1, tries: int = 6) -> list:
    """Find a base (``base_fn() -> (point cm, heading)``) from which a stem system of about
    ``length`` cm fits on the paper, and place it; returns its axes ([] when none fits)."""
    best = []
    for k in range(tries):
        base, h = base_fn()
        axes = tree(bed, base, h, length, w0, curl, branches, spread, step=step)
        got = sum(len(p) for p, _, _ in axes) * step
        if got >= 0.6 * length or (k == tries - 1 and axes):
            if place_stem(bed, axes, tone, overlap):
                return axes
        elif len(axes) > len(best):
            best = axes
    return best if best and place_stem(bed, best, tone, overlap) else []


def leaves_along(bed: PlantBed, axes: list, tone, shape: str, size: float, spacing: float,
                 opposite: bool, start: float = 0.1, angle=(0.3, 1.1), shrink: float = 0.45) -> int:
    """Leaves at nodes every ``spacing`` cm along each axis, alternate or opposite, smaller
    towards the tips."""
    rng, ppc, n = bed.rng, bed.ppc, 0
    fits = bed.sketch_fits(0.55)
    for path, _, _ in axes:
        seg = np.r_[0, np.cumsum(np.hypot(*np.diff(path, axis=0).T))]
        side = rng.choice([-1, 1])
        for s in np.arange(seg[-1] * start + rng.uniform(0, spacing), seg[-1] - 0.3, spacing * rng.uniform(0.8, 1.2)):
            k = int(np.searchsorted(seg, s))
            frac = s / seg[-1]
            for sd in ((-1, 1) if opposite else (side,)):
                L = size * rng.uniform(0.7, 1.1) * (1 - shrink * frac)
                for f, flip in ((1.0, 1), (0.9, -1 if not opposite else 1), (0.8, 0), (0.6, 1)):
                    a = _heading(path, k) + sd * flip * rng.uniform(*angle)
                    if flip == 0:  # last try: towards the middle of the sheet, as a preparator would lay it
                        a = _towards_middle(bed, path[k], rng)
                    if bed.try_place(make_leaf(rng, ppc, path[k] * ppc, a, max(0.8, L * f), shape, tone, fits=fits),
                                     max_overlap=0.55, keep_frac=0.4):
                        n += 1
                        break
            side = -side
            if bed.full():
                return n
    return n


def place_root(bed: PlantBed, base: np.ndarray, kind=None) -> bool:
    """A root system hanging from a plant's base, as long as the paper below allows."""
    rng, ppc = bed.rng, bed.ppc
    room = bed.paper_cm[3] - base[1] - 0.5
    L = min(rng.uniform(3, 12), room)
    for f in (1.0, 0.7, 0.45, 0.3):
        if L * f < 1.0:
            break
        if bed.try_place(make_root(rng, ppc, base, np.pi / 2 + rng.normal(0, 0.3), L * f, kind),
                         max_overlap=0.25, max_hidden=0.3):
            return True
    return False


def tip_organs(bed: PlantBed, axes: list, p_flower: float, kind: str, size: float, fruit_p: float = 0.3,
               colour=None) -> None:
    rng, ppc = bed.rng, bed.ppc
    for path, _, _ in axes:
        tip, h = path[-1] * ppc, _heading(path, len(path) - 1)
        if rng.random() < p_flower:
            d = size * rng.uniform(0.7, 1.2)
            for k in (1, 3, 6):  # at the tip, or a little down the axis when the tip is at an edge
                if k <= len(path) and bed.try_place(make_flower(rng, ppc, path[-k] * ppc, d, kind, heading=h, colour=colour), max_overlap=0.5):
                    break
        elif rng.random() < fruit_p:
            fk = str(rng.choice(["berry", "drupe", "capsule", "pod", "samara"]))
            for _ in range(int(rng.integers(1, 6))):
                q = tip + rng.normal(0, 0.6 * ppc, 2)
                bed.try_place(make_fruit(rng, ppc, q, kind=fk), max_overlap=0.3)


# --------------------------------------------------------------------------- specimens
def branch(bed: PlantBed, tone) -> None:
    """A leafy woody branch, cut, filling much of the sheet."""
    rng = bed.rng
    x0, y0, x1, y1 = bed.paper_cm
    upright = rng.random() < 0.75

    def base_fn():
        if upright:  # cut end near the bottom, growing up
            return bed.free_point(1.5, (x0 + 4, y1 - 8, x1 - 4, y1)), -np.pi / 2 + rng.normal(0, 0.35)
        return bed.free_point(4.0), rng.uniform(0, 2 * np.pi)

    axes = grow(bed, tone, base_fn, rng.uniform(0.6, 1.0) * (y1 - y0), rng.uniform(0.15, 0.55), rng.uniform(0.05, 0.22),
                int(rng.integers(1, 7)), (0.3, 0.9))
    if not axes:
        return
    if upright and rng.random() < 0.25:  # a young shrub or subshrub, dug up with its roots
        place_root(bed, axes[0][0][0])
    shape = str(rng.choice(BRANCH_SHAPES))
    size = rng.uniform(6, 22) if shape not in ("compound", "digitate") else rng.uniform(10, 25)
    if rng.random() < 0.7:  # flowers and fruits at the tips first: leaves then crowd round them
        tip_organs(bed, axes, rng.uniform(0.2, 0.8), str(rng.choice(["umbel", "panicle", "spike", "rosette", "head"])),
                   rng.uniform(1.5, 8), fruit_p=0.7)
    leaves_along(bed, axes, tone, shape, size, rng.uniform(0.8, 3.0) * (0.5 + size / 20), rng.random() < 0.3,
                 start=rng.uniform(0.05, 0.3))


def herb(bed: PlantBed, tone, n: int) -> None:
    """Herbs with thin wiry stems, often with their roots, basal leaves and flowers."""
    rng, ppc = bed.rng, bed.ppc
    x0, y0, x1, y1 = bed.paper_cm
    shape = str(rng.choice(HERB_SHAPES))
    fl_kind = str(rng.choice(["rosette", "head", "bell", "umbel", "spike"]))
    size = rng.uniform(2.0, 10.0) / np.sqrt(max(1, n - 1))
    for i in range(n):
        cx = x0 + (x1 - x0) * (i + 0.5) / n
        slot = (cx - (x1 - x0) / n / 2, y1 - 14, cx + (x1 - x0) / n / 2, y1 - 4)
        axes = grow(bed, tone, lambda: (bed.free_point(1.0, slot), -np.pi / 2 + rng.normal(0, 0.3)),
                    rng.uniform(0.35, 0.95) * (y1 - y0), rng.uniform(0.05, 0.3), rng.uniform(0.15, 0.45),
                    int(rng.integers(1, 7)), (0.25, 0.9), step=0.4)
        if not axes:
            continue
        base = axes[0][0][0]
        if rng.random() < 0.9:
            place_root(bed, base)
        if rng.random() < 0.35:  # basal rosette
            for a in np.linspace(-np.pi + 0.3, -0.3, int(rng.integers(3, 9))):
                bed.try_place(make_leaf(rng, ppc, base * ppc, a + rng.normal(0, 0.15), size * rng.uniform(1.2, 2.2), shape, tone),
                              max_overlap=0.5, keep_frac=0.45)
        tip_organs(bed, axes, 0.7, fl_kind, rng.uniform(0.6, 3.5) if fl_kind != "spike" else rng.uniform(2, 8))
        leaves_along(bed, axes, tone, shape, size, rng.uniform(0.6, 2.5), rng.random() < 0.4, start=rng.uniform(0.05, 0.3))


def grass(bed: PlantBed, tone, n: int) -> None:
    """Grass or sedge tufts: fibrous roots, culms with a panicle or spike, long thin blades."""
    rng, ppc = bed.rng, bed.ppc
    x0, y0, x1, y1 = bed.paper_cm
    infl = str(rng.choice(["panicle", "spike"]))
    # spikelets dry like the rest of the grass, sometimes purplish or darker
    spikelets = tone.at(tone.t + rng.uniform(0.0, 0.3)) * (np.array([1.05, 0.85, 1.0]) if rng.random() < 0.2 else 1.0)
    blade_fits = bed.sketch_fits(0.7)
    for i in range(n):
        cx = x0 + (x1 - x0) * (i + 0.5) / n
        base = bed.free_point(1.0, (cx - (x1 - x0) / n / 2, y1 - 13, cx + (x1 - x0) / n / 2, y1 - 4))
        if rng.random() < 0.9:
            place_root(bed, base, "fibrous")
        for _ in range(int(rng.integers(1, 6))):  # culms: each its own stem, its inflorescence on top
            d = rng.uniform(4, 16)
            room = base[1] - y0 - d - 1.0   # the culms stand up: leave the inflorescence room
            if room < 6:
                d, room = max(3.0, d / 2), base[1] - y0 - 1.0 - max(3.0, d / 2)
            axes = grow(bed, tone, lambda: (base + rng.normal(0, 0.3, 2), -np.pi / 2 + rng.normal(0, 0.25)),
                        min(rng.uniform(12, 0.9 * (y1 - y0)), max(room, 4.0)), rng.uniform(0.06, 0.22),
                        rng.uniform(0.02, 0.1), 0, step=0.6, overlap=0.3, tries=3)
            if not axes:
                continue
            path = axes[0][0]
            tip_organs(bed, [(path, 0, 0)], 1.0, infl, d, colour=spikelets)
            for _ in range(int(rng.integers(0, 4))):  # blades from the culm's nodes
                k = int(rng.integers(1, max(2, len(path) // 2)))
                bed.try_place(make_leaf(rng, ppc, path[k] * ppc, _heading(path, k) + rng.choice([-1, 1]) * rng.uniform(0.1, 0.5),
                                        rng.uniform(6, 22), "blade", tone, fits=blade_fits), max_overlap=0.7, keep_frac=0.35)
        for _ in range(int(rng.integers(5, 21))):  # basal blades
            bed.try_place(make_leaf(rng, ppc, (base + rng.normal(0, 0.5, 2)) * ppc, -np.pi / 2 + rng.normal(0, 0.5),
                                    rng.uniform(8, 35), "blade", tone, fits=blade_fits), max_overlap=0.7, keep_frac=0.35)


def loose_leaves(bed: PlantBed, tone) -> None:
    """Single big leaves laid out side by side (one species, sometimes of several colours)."""
    rng, ppc = bed.rng, bed.ppc
    x0, y0, x1, y1 = bed.paper_cm
    shape = random_shape(rng) if rng.random() < 0.6 else None
    for _ in range(int(rng.integers(4, 11))):
        t = tone if rng.random() < 0.5 else specimen_tone(rng)
        sh = shape or random_shape(rng)
        for L in (rng.uniform(8, 24), rng.uniform(6, 18), rng.uniform(4, 12), rng.uniform(3, 8)):
            p = bed.free_point(1.5)
            if bed.try_place(make_leaf(rng, ppc, p * ppc, _towards_middle(bed, p, rng), L, sh, t, fits=bed.sketch_fits(0.15)),
                             max_overlap=0.15):
                break


def conifer(bed: PlantBed, tone) -> None:
    """A conifer twig: a woody branch with needle fascicles and a few cones."""
    rng, ppc = bed.rng, bed.ppc
    x0, y0, x1, y1 = bed.paper_cm
    axes = grow(bed, tone, lambda: (bed.free_point(1.5, (x0 + 5, y1 - 8, x1 - 5, y1)), -np.pi / 2 + rng.normal(0, 0.4)),
                rng.uniform(0.4, 0.85) * (y1 - y0), rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.15), int(rng.integers(1, 5)))
    if not axes:
        return
    leaves_along(bed, axes, tone, "needle", rng.uniform(2, 14), rng.uniform(0.4, 1.5), False, start=0.05,
                 angle=(0.3, 0.9), shrink=0.3)
    for _ in range(int(rng.integers(0, 4))):
        path = axes[int(rng.integers(0, len(axes)))][0]
        bed.try_place(make_fruit(rng, ppc, path[-1] * ppc + rng.normal(0, ppc, 2), rng.uniform(2, 9), "cone"), max_overlap=0.3)


def fragments(bed: PlantBed, tone) -> None:
    """A carpological or fragment sheet: short twigs, loose fruits, flowers and leaves."""
    rng, ppc = bed.rng, bed.ppc
    shape = random_shape(rng)
    for _ in range(int(rng.integers(1, 5))):
        axes = grow(bed, tone, lambda: (bed.free_point(3.0), rng.uniform(0, 2 * np.pi)), rng.uniform(4, 15),
                    rng.uniform(0.08, 0.5), rng.uniform(0.05, 0.3), int(rng.integers(0, 3)), tries=3)
        tip_organs(bed, axes, 0.3, None, rng.uniform(1, 4), fruit_p=0.8)
        if axes and rng.random() < 0.6:
            leaves_along(bed, axes, tone, shape, rng.uniform(2, 8), rng.uniform(1, 3), False)
    loose(bed, tone, int(rng.integers(3, 14)))


def loose(bed: PlantBed, tone, n: int) -> None:
    """Loose material: fruits, flowers, leaves, a bit of root."""
    rng, ppc = bed.rng, bed.ppc
    fk = str(rng.choice(["berry", "drupe", "capsule", "pod", "samara", "cone"]))
    for _ in range(n):
        cls = str(rng.choice(["fruit", "flower", "leaf", "root"], p=[0.45, 0.25, 0.2, 0.1]))
        p = bed.free_point(2.0) * ppc
        od = (make_fruit(rng, ppc, p, kind=fk) if cls == "fruit" else make_flower(rng, ppc, p) if cls == "flower"
              else make_leaf(rng, ppc, p, rng.uniform(0, 2 * np.pi), None, None, tone) if cls == "leaf"
              else make_root(rng, ppc, p / ppc, rng.uniform(0, 2 * np.pi), rng.uniform(2, 6)))
        bed.try_place(od, max_overlap=0.2)


def add_specimens(bed: PlantBed) -> str:
    """Mount one specimen kind on the sheet; returns its name."""
    rng = bed.rng
    kind = str(rng.choice(list(KINDS), p=np.array(list(KINDS.values()))))
    tone = specimen_tone(rng, grass=kind == "grass")
    if kind == "branch":
        for _ in range(1 if rng.random() < 0.65 else 2):
            branch(bed, tone)
    elif kind == "herb":
        herb(bed, tone, int(rng.choice([1, 1, 2, 2, 3, 4, 5])))
    elif kind == "grass":
        grass(bed, tone, int(rng.choice([1, 1, 2, 3])))
    elif kind == "leaves":
        loose_leaves(bed, tone)
    elif kind == "conifer":
        conifer(bed, tone)
    else:
        fragments(bed, tone)
    if rng.random() < 0.3:
        loose(bed, tone, int(rng.integers(1, 5)))
    return kind
