"""Totals over a batch (from the journal's per-image summaries) and the final rich tables."""
from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from herbmorph.results import ORGAN_CLASSES


def aggregate(summaries: list[dict]) -> dict:
    """Counts per organ class, cm² per class (sheets with a scale only), scale ok/null, failures by kind."""
    classes = {c: {"organs": 0, "cm2": 0.0, "areas_cm2": [], "areas_px": []} for c in ORGAN_CLASSES}
    scale = Counter()
    px_per_cm, failures = [], Counter()
    for s in summaries:
        if s.get("status") != "done":
            failures[s.get("kind") or "unknown"] += 1
            continue
        scale["ok" if s.get("scale") == "ok" else "null"] += 1
        if s.get("px_per_cm"):
            px_per_cm.append(float(s["px_per_cm"]))
        for cls, cm2, px in s.get("organs") or []:
            row = classes.setdefault(cls, {"organs": 0, "cm2": 0.0, "areas_cm2": [], "areas_px": []})
            row["organs"] += 1
            if px is not None:
                row["areas_px"].append(float(px))
            if cm2 is not None:
                row["cm2"] += float(cm2)
                row["areas_cm2"].append(float(cm2))
    return {"sheets": sum(scale.values()), "scale": dict(scale), "classes": classes,
            "px_per_cm": px_per_cm, "failures": dict(failures)}


def print_summary(result, console: Console | None = None) -> dict:
    """The final tables; returns the aggregate (the report reuses it)."""
    console = console or Console()
    agg = aggregate(result.summaries)
    run = Table(title="herbmorph batch", show_header=False)
    run.add_column("what")
    run.add_column("value", justify="right")
    c = result.counts
    rows = [("images in the source", result.total), ("measured now", c.get("measured", 0)),
            ("already current (skipped)", c.get("current", 0)),
            ("failed now", c.get("failed", 0)), ("failed earlier, kept (--retry-failed reruns)", c.get("kept-failed", 0)),
            ("workers", f"{result.workers} — {result.capacity}" if result.capacity else result.workers),
            ("time", f"{result.seconds:.1f} s"), ("journal", str(result.journal))]
    for k, v in rows:
        run.add_row(k, str(v))
    console.print(run)

    organs = Table(title=f"Organs on {agg['sheets']} measured sheets")
    for col in ("class", "organs", "total cm² (sheets with a scale)"):
        organs.add_column(col, justify="right" if col != "class" else "left")
    for cls, row in agg["classes"].items():
        organs.add_row(cls, str(row["organs"]), f"{row['cm2']:.2f}")
    console.print(organs)

    sc = agg["scale"]
    console.print(f"scale: [green]{sc.get('ok', 0)}[/] sheet(s) with a px/cm, [yellow]{sc.get('null', 0)}[/] null")
    if result.failures:
        kinds = Table(title=f"[red]{len(result.failures)} failed image(s)")
        kinds.add_column("kind")
        kinds.add_column("images", justify="right")
        for kind, n in Counter(f.get("kind") or "unknown" for f in result.failures).most_common():
            kinds.add_row(kind, str(n))
        console.print(kinds)
        fails = Table(show_header=True)
        fails.add_column("image")
        fails.add_column("kind")
        fails.add_column("message")
        for f in result.failures[:50]:
            fails.add_row(f["key"], f.get("kind") or "", (f.get("message") or "")[:100])
        console.print(fails)
        if len(result.failures) > 50:
            console.print(f"… and {len(result.failures) - 50} more (see the journal or --report)")
    if result.interrupted:
        console.print("[yellow]interrupted: run the same command again to continue where it stopped")
    return agg
