"""Sheet clutter: labels, determination slips, barcodes, stamps, tape strips, fragment envelopes.

These are the things a herbarium sheet carries besides the plant. They hold text and digits on
purpose (dates, accession numbers, barcodes) so the scale OCR has to look past them.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .fonts import get_font
from .paper import fine_grain, smooth_noise

_GENERA = ["Quercus", "Salix", "Carex", "Rubus", "Ludwigia", "Spondias", "Desmoscelis", "Anaxagorea",
           "Rosa", "Acer", "Ficus", "Solanum", "Piper", "Miconia", "Psychotria", "Eugenia", "Inga",
           "Vernonia", "Senecio", "Euphorbia", "Croton", "Ilex", "Prunus", "Betula", "Ranunculus",
           "Viola", "Galium", "Poa", "Juncus", "Myrcia", "Ocotea", "Clidemia", "Hypericum"]
_EPITHETS = ["alba", "vulgaris", "montana", "officinalis", "hirsuta", "villosa", "glabra", "major",
             "minor", "repens", "lutea", "mombin", "hyssopifolia", "dolichocarpa", "pubescens",
             "sylvestris", "arvensis", "palustris", "tomentosa", "angustifolia", "latifolia"]
_AUTHORS = ["L.", "(L.) DC.", "Sw.", "Benth.", "Aubl.", "Kunth", "Mill.", "Sprague & Sandwith",
            "(G. Don) Exell", "Naudin", "Willd.", "Hook. f."]
_INSTITUTIONS = ["HERBARIUM", "FLORA OF THE WEST INDIES", "UNITED STATES NATIONAL HERBARIUM",
                 "HERBIER MUSEUM PARIS", "BOTANICAL GARDEN", "HERBARIUM OF THE UNIVERSITY",
                 "HERBIER DE GUYANE", "RESERVA ECOLOGICA", "PLANTS OF THE REGION", "MUSEUM HERBARIUM"]
_WORDS = ["Collected", "by", "near", "road", "forest", "edge", "river", "bank", "slope", "meadow",
          "altitude", "Loc.", "Leg.", "Det.", "Hab.", "shrub", "tree", "herb", "flowers", "fruits",
          "purple", "white", "common", "along", "trail", "swamp", "sandy", "soil", "secondary",
          "primary", "locality", "Parcelle", "Piste", "camp", "hill", "valley", "moist"]
_MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec",
           "VIII", "IV", "XII", "juin", "mai"]
INK_COLOURS = np.array([[20, 20, 25], [35, 30, 28], [25, 30, 70], [40, 30, 60], [60, 40, 30]], np.float32)


def _species(rng) -> str:
    return f"{rng.choice(_GENERA)} {rng.choice(_EPITHETS)} {rng.choice(_AUTHORS)}"


def _line(rng) -> str:
    k = int(rng.integers(0, 6))
    if k == 0:
        return f"{rng.choice(_MONTHS)} {rng.integers(1, 29)}, {rng.integers(1850, 2024)}"
    if k == 1:
        return f"No. {rng.integers(1, 9999)}"
    if k == 2:
        return f"{rng.integers(0, 90)}°{rng.integers(0, 60)}'{rng.choice(['N', 'S'])} {rng.integers(0, 180)}°{rng.integers(0, 60)}'{rng.choice(['E', 'W'])}"
    n = int(rng.integers(3, 8))
    return " ".join(str(rng.choice(_WORDS)) for _ in range(n)).capitalize()


def _paper_patch(rng, h: int, w: int, base: np.ndarray, ppc: float) -> np.ndarray:
    lo_h, lo_w = max(4, int(h * min(1.0, 10 / ppc))), max(4, int(w * min(1.0, 10 / ppc)))
    n = smooth_noise(rng, lo_h, lo_w, 6) * rng.uniform(1, 3)
    lo = np.clip(base[None, None, :] + n[..., None], 0, 255).astype(np.uint8)
    img = cv2.resize(lo, (w, h), interpolation=cv2.INTER_LINEAR)
    g = fine_grain(rng, h, w, 1.5)
    return np.clip(img.astype(np.int16) + g[..., None], 0, 255).astype(np.uint8)


def render_label(rng: np.random.Generator, ppc: float, w_cm: float, h_cm: float,
                 slip: bool = False) -> np.ndarray:
    """A printed (sometimes partly handwritten) specimen label, RGB uint8."""
    w, h = max(8, int(w_cm * ppc)), max(8, int(h_cm * ppc))
    v = rng.uniform(236, 252)
    warm = rng.uniform(0, 1) ** 2  # mostly white, sometimes cream
    base = np.array([v, v - 6 * warm, v - 30 * warm], np.float32) + rng.normal(0, 1.0, 3)
    img = Image.fromarray(_paper_patch(rng, h, w, base, ppc))
    d = ImageDraw.Draw(img)
    ink = tuple(int(v) for v in INK_COLOURS[rng.integers(0, len(INK_COLOURS))])
    margin = 0.3 * ppc
    y = margin
    th = rng.uniform(0.18, 0.4) * ppc
    lines: list[tuple[str, str, float]] = []
    if slip:
        lines.append((_species(rng), str(rng.choice(["italic", "serif", "sans"])), th * 1.1))
        lines.append((f"Det. {rng.choice(_AUTHORS)} {rng.integers(1900, 2024)}", "sans", th * 0.8))
    else:
        lines.append((str(rng.choice(_INSTITUTIONS)), "sans-bold", th * 1.2))
        lines.append((_species(rng), "italic", th * 1.1))
        for _ in range(int(rng.integers(2, 8))):
            lines.append((_line(rng), str(rng.choice(["sans", "mono", "serif"])), th))
    if rng.random() < 0.6 and not slip:  # frame
        fw = max(1, int(0.02 * ppc))
        d.rectangle([int(0.12 * ppc), int(0.12 * ppc), w - int(0.12 * ppc), h - int(0.12 * ppc)],
                    outline=ink, width=fw)
    for text, kind, size in lines:
        if y + size > h - margin * 0.5:
            break
        f = get_font(kind, int(size * 1.35))
        if f is None:
            break
        room = w - 2 * margin
        tl = d.textlength(text, font=f)
        if tl > room:  # shrink to fit the label
            f = get_font(kind, max(4, int(size * 1.35 * room / tl)))
        x = margin if rng.random() < 0.7 else max(margin, (w - d.textlength(text, font=f)) / 2)
        d.text((x, y), text, font=f, fill=ink)
        y += size * rng.uniform(1.5, 1.9)
    out = np.asarray(img).copy()
    if rng.random() < 0.35:  # handwritten-looking scrawl in blue/black ink
        pts = []
        yy = rng.uniform(0.3, 0.85) * h
        for x in np.linspace(margin, w * rng.uniform(0.4, 0.9), int(rng.integers(20, 60))):
            pts.append([x, yy + rng.normal(0, 0.08 * ppc)])
        col = tuple(float(v) for v in rng.choice([[30, 40, 110], [25, 25, 30]]))
        cv2.polylines(out, [np.array(pts, np.int32)], False, col, max(1, int(0.03 * ppc)), cv2.LINE_AA)
    return out


def render_barcode(rng: np.random.Generator, ppc: float) -> np.ndarray:
    """A barcode sticker with its number printed underneath, RGB uint8."""
    module = rng.uniform(0.018, 0.035) * ppc
    widths = rng.integers(1, 5, size=int(rng.integers(50, 90)))
    bars_w = widths.sum() * module
    bar_h = rng.uniform(0.7, 1.4) * ppc
    pad = 0.25 * ppc
    th = rng.uniform(0.2, 0.32) * ppc
    header = rng.random() < 0.5
    W = int(bars_w + 2 * pad)
    H = int(bar_h + 2 * pad + th * 1.4 + (th * 1.3 if header else 0))
    img = Image.fromarray(_paper_patch(rng, H, W, np.array([250, 250, 248], np.float32), ppc))
    d = ImageDraw.Draw(img)
    y0 = pad + (th * 1.3 if header else 0)
    if header:
        f = get_font("sans", int(th * 0.9 * 1.35))
        if f:
            text = str(rng.choice(_INSTITUTIONS))
            tl = d.textlength(text, font=f)
            if tl > W - 2 * pad:
                f = get_font("sans", max(4, int(th * 0.9 * 1.35 * (W - 2 * pad) / tl)))
            d.text((pad, pad * 0.5), text, font=f, fill=(20, 20, 20))
    x = pad
    for i, wd in enumerate(widths):
        if i % 2 == 0:
            d.rectangle([x, y0, x + wd * module - 1 if wd * module > 1 else x, y0 + bar_h], fill=(15, 15, 15))
        x += wd * module
    f = get_font("mono", int(th * 1.35))
    if f:
        num = "".join(str(v) for v in rng.integers(0, 10, int(rng.integers(6, 10))))
        tw = d.textlength(num, font=f)
        d.text(((W - tw) / 2, y0 + bar_h + th * 0.2), num, font=f, fill=(15, 15, 15))
    return np.asarray(img).copy()


def render_envelope(rng: np.random.Generator, ppc: float, w_cm: float, h_cm: float) -> np.ndarray:
    """A folded fragment packet (capsule) with flap lines, RGB uint8."""
    w, h = max(8, int(w_cm * ppc)), max(8, int(h_cm * ppc))
    base = np.array([rng.uniform(225, 248), rng.uniform(218, 240), rng.uniform(190, 225)], np.float32)
    img = _paper_patch(rng, h, w, base, ppc)
    line_col = tuple(float(v) for v in (base * 0.82))
    t = max(1, int(0.02 * ppc))
    fold = int(h * rng.uniform(0.25, 0.4))
    cv2.line(img, (0, fold), (w // 2, int(fold * 1.6)), line_col, t, cv2.LINE_AA)
    cv2.line(img, (w - 1, fold), (w // 2, int(fold * 1.6)), line_col, t, cv2.LINE_AA)
    cv2.line(img, (0, h - int(h * 0.15)), (w - 1, h - int(h * 0.15)), line_col, t, cv2.LINE_AA)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), tuple(float(v) for v in base * 0.75), t)
    return img


def render_stamp(rng: np.random.Generator, ppc: float) -> tuple[np.ndarray, np.ndarray]:
    """A round ink stamp: (RGB colour, float alpha) of a square patch."""
    R = rng.uniform(1.0, 2.0) * ppc
    s = int(2 * R + 4)
    a = Image.new("L", (s, s), 0)
    d = ImageDraw.Draw(a)
    lw = max(1, int(0.05 * ppc))
    d.ellipse([2, 2, s - 3, s - 3], outline=255, width=lw)
    d.ellipse([2 + R * 0.25, 2 + R * 0.25, s - 3 - R * 0.25, s - 3 - R * 0.25], outline=255, width=max(1, lw // 2))
    f = get_font("sans-bold", int(R * 0.35))
    if f:
        num = "".join(str(v) for v in rng.integers(0, 10, int(rng.integers(4, 7))))
        tw = d.textlength(num, font=f)
        d.text(((s - tw) / 2, s / 2 - R * 0.22), num, font=f, fill=255)
    alpha = np.asarray(a).astype(np.float32) / 255.0 * rng.uniform(0.5, 0.85)
    col = INK_COLOURS[rng.integers(0, len(INK_COLOURS))] * 0.5 + np.array([40, 30, 110]) * 0.5 * (rng.random() < 0.5)
    rgb = np.empty((s, s, 3), np.float32)
    rgb[:] = col
    return rgb, alpha


def tape_strip(rng: np.random.Generator, ppc: float, centre: np.ndarray, angle: float
               ) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A translucent tape strip centred on ``centre`` (sheet px) along ``angle``.

    Returns (x, y, rgb patch float32, alpha patch float32) for alpha-blending onto the sheet.
    """
    L = rng.uniform(1.2, 3.5) * ppc
    Wd = rng.uniform(0.35, 0.8) * ppc
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-L / 2, -Wd / 2], [L / 2, -Wd / 2], [L / 2, Wd / 2], [-L / 2, Wd / 2]])
    corners = corners @ np.array([[c, s], [-s, c]]) + centre
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    h, w = y1 - y0, x1 - x0
    a = np.zeros((h, w), np.float32)
    cv2.fillPoly(a, [np.round((corners - [x0, y0]) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    a *= rng.uniform(0.35, 0.7) * (1 + 0.1 * smooth_noise(rng, h, w, 4))
    col = np.array(rng.choice([[246, 244, 236], [240, 232, 205], [250, 250, 250], [228, 215, 180]]),
                   np.float32)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = col
    return int(x0), int(y0), rgb, np.clip(a, 0, 1)
