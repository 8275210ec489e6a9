"""``--report report.html``: one self-contained page (inline SVG plots, data-URI thumbnails, no
script, no external request; its Content-Security-Policy forbids any) describing a batch."""
from __future__ import annotations

import base64
import html
import io
import math
import time
from collections import Counter
from pathlib import Path
from typing import Optional

from herbmorph.outputs import OVERLAY_SUFFIX

from .stores import Destination, Location

THUMBNAILS = 6
THUMB_WIDTH = 360
W, H, PAD = 560, 220, 44

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1d2a1f}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #cfd8cc}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #cfd8cc;padding:.25rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}.msg{text-align:left;max-width:46rem;word-break:break-word}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plot{background:#fbfcf8;border:1px solid #e0e6dc}
.bar{fill:#5b8a3c}.bar.px{fill:#8a6d3c}.axis{stroke:#445;stroke-width:1}.lbl{font-size:11px;fill:#334}
.ttl{font-size:13px;font-weight:600;fill:#1d2a1f}.thumbs{display:flex;flex-wrap:wrap;gap:.8rem}
figure{margin:0}figcaption{font-size:12px;max-width:360px;word-break:break-all}.muted{color:#667}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def histogram_svg(values: list[float], title: str, xlabel: str, *, bins: int = 20, css: str = "bar") -> str:
    """A histogram as inline SVG (upper edge at the 99th percentile, so one outlier doesn't flatten it)."""
    vals = sorted(v for v in values if v is not None and math.isfinite(v))
    head = f'<svg class="plot" role="img" width="{W}" height="{H}" viewBox="0 0 {W} {H}">' \
           f'<title>{_e(title)}</title><text class="ttl" x="{PAD}" y="16">{_e(title)}</text>'
    if not vals:
        return head + f'<text class="lbl" x="{PAD}" y="{H / 2}">no values</text></svg>'
    lo = vals[0]
    hi = vals[min(len(vals) - 1, int(0.99 * (len(vals) - 1) + 0.5))]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, max(0, int((v - lo) / width)))] += 1
    top = max(counts)
    x0, y0, pw, ph = PAD, H - 34, W - PAD - 12, H - 34 - 26
    bw = pw / bins
    parts = [head, f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0 + pw}" y2="{y0}"/>',
             f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 - ph}"/>']
    for i, n in enumerate(counts):
        h = ph * n / top
        a, b = lo + i * width, lo + (i + 1) * width
        parts.append(f'<rect class="{css}" x="{x0 + i * bw + 1:.1f}" y="{y0 - h:.1f}" width="{bw - 2:.1f}" '
                     f'height="{h:.1f}"><title>{_fmt(a)}–{_fmt(b)}: {n}</title></rect>')
    for frac, anchor in ((0, "start"), (0.5, "middle"), (1, "end")):
        x = x0 + frac * pw
        parts.append(f'<text class="lbl" x="{x:.1f}" y="{y0 + 14}" text-anchor="{anchor}">{_fmt(lo + frac * (hi - lo))}</text>')
    parts.append(f'<text class="lbl" x="{x0 - 6}" y="{y0 - ph + 4}" text-anchor="end">{top}</text>')
    parts.append(f'<text class="lbl" x="{x0 - 6}" y="{y0}" text-anchor="end">0</text>')
    parts.append(f'<text class="lbl" x="{x0 + pw / 2}" y="{H - 4}" text-anchor="middle">{_e(xlabel)} '
                 f'(n={len(vals)})</text></svg>')
    return "".join(parts)


def bars_svg(counts: dict[str, int], title: str) -> str:
    """Horizontal bars, one per class."""
    rows = list(counts.items())
    height = 30 + 22 * len(rows)
    top = max([n for _, n in rows] + [1])
    parts = [f'<svg class="plot" role="img" width="{W}" height="{height}" viewBox="0 0 {W} {height}">'
             f'<title>{_e(title)}</title><text class="ttl" x="8" y="16">{_e(title)}</text>']
    for i, (name, n) in enumerate(rows):
        y = 26 + 22 * i
        w = (W - 160) * n / top
        parts.append(f'<text class="lbl" x="70" y="{y + 13}" text-anchor="end">{_e(name)}</text>'
                     f'<rect class="bar" x="76" y="{y}" width="{w:.1f}" height="16"><title>{_e(name)}: {n}</title></rect>'
                     f'<text class="lbl" x="{80 + w:.1f}" y="{y + 13}">{n}</text>')
    return "".join(parts) + "</svg>"


def _thumbnail(png: bytes) -> Optional[str]:
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(png))
        img.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 2))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=80)
    except Exception:  # noqa: BLE001 - a broken overlay just has no thumbnail
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _thumbnails(result, opts) -> str:
    dest = Destination(Location.parse(opts.dest), opts.settings)
    done = [s for s in result.summaries if s.get("status") == "done"]
    # the sheets with the most organs show the most
    done.sort(key=lambda s: (-len(s.get("organs") or []), s["key"]))
    figures = []
    for s in done:
        if len(figures) >= THUMBNAILS:
            break
        uri = _thumbnail(dest.read_bytes(s["rel"], OVERLAY_SUFFIX) or b"")
        if uri:
            figures.append(f'<figure><img src="{uri}" width="{THUMB_WIDTH}" alt="overlay of {_e(s["key"])}">'
                           f'<figcaption>{_e(s["key"])} — {len(s.get("organs") or [])} organs, scale '
                           f'{_e(s.get("scale"))}</figcaption></figure>')
    return "".join(figures) or '<p class="muted">no overlays</p>'


def render_report(result, agg: dict, opts) -> str:
    classes = agg["classes"]
    c = result.counts
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{r['organs']}</td><td>{len(r['areas_cm2'])}</td><td>{r['cm2']:.2f}</td></tr>"
                   for k, r in classes.items())
    hists = []
    for name, r in classes.items():
        if r["areas_cm2"]:
            hists.append(histogram_svg(r["areas_cm2"], f"{name}: organ area", "cm²"))
        elif r["areas_px"]:
            hists.append(histogram_svg(r["areas_px"], f"{name}: organ area (no scale: pixels)", "px", css="bar px"))
    failures = "".join(f"<tr><td>{_e(f['key'])}</td><td>{_e(f.get('kind') or '')}</td>"
                       f"<td class=\"msg\">{_e(f.get('message') or '')}</td></tr>" for f in result.failures)
    kinds = Counter(f.get("kind") or "unknown" for f in result.failures)
    by_kind = "".join(f"<tr><td>{_e(k)}</td><td>{n}</td></tr>" for k, n in kinds.most_common())
    scale = agg["scale"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>herbmorph batch report</title><style>{CSS}</style></head><body>
<h1>herbmorph batch report</h1>
<p><b>{_e(opts.source)}</b> → <b>{_e(opts.dest)}</b><br><span class="muted">{_e(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}
 · {result.seconds:.1f} s · {result.workers} worker(s){_e(' — ' + result.capacity if result.capacity else '')}</span></p>
<table id="run"><tr><th>images in the source</th><td>{result.total}</td></tr>
<tr><th>measured sheets (results)</th><td>{agg['sheets']}</td></tr>
<tr><th>measured now</th><td>{c.get('measured', 0)}</td></tr><tr><th>already current</th><td>{c.get('current', 0)}</td></tr>
<tr><th>failed</th><td>{len(result.failures)}</td></tr>
<tr><th>sheets with a scale (px/cm)</th><td>{scale.get('ok', 0)}</td></tr><tr><th>sheets whose scale is null</th><td>{scale.get('null', 0)}</td></tr></table>
<h2>Organs per class</h2>
<table id="classes"><tr><th>class</th><th>organs</th><th>with cm²</th><th>total cm²</th></tr>{rows}</table>
<div class="plots">{bars_svg({k: r['organs'] for k, r in classes.items()}, 'organs per class')}</div>
<h2>Organ areas</h2><div class="plots" id="areas">{''.join(hists) or '<p class="muted">no organs</p>'}</div>
<h2>Scale</h2><div class="plots" id="scale">{histogram_svg(agg['px_per_cm'], 'px/cm of the sheets with a scale', 'px/cm')}</div>
<h2>Failures</h2>
<table id="failure-kinds"><tr><th>kind</th><th>images</th></tr>{by_kind or '<tr><td>none</td><td>0</td></tr>'}</table>
<table id="failures"><tr><th>image</th><th>kind</th><th>message</th></tr>{failures}</table>
<h2>Overlays</h2><div class="thumbs">{_thumbnails(result, opts)}</div>
</body></html>
"""


def write_report(path: Path, result, agg: dict, opts) -> Path:
    from herbmorph.store import atomic_write

    return atomic_write(Path(path), render_report(result, agg, opts))
