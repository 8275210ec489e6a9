"""The HTML report of a real batch, opened in a real headless Chromium (Debian's, driven by
Playwright): it loads with no console error and no request, and its plots and thumbnails render."""
from __future__ import annotations

import shutil

import pytest
from test_batch_support import sheet_bytes

from herbmorph.batch import BatchOptions, run_batch
from herbmorph.batch.report import write_report
from herbmorph.batch.summary import aggregate


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no Chromium: scripts/setup.sh installs Debian's `chromium`")


def test_report_renders_in_headless_chromium(tmp_path):
    src = tmp_path / "scans"
    (src / "2019").mkdir(parents=True)
    for i, sample in enumerate((0, 2, 1)):
        (src / "2019" / f"sheet <{i}> & co.jpg").write_bytes(sheet_bytes(i, sample=sample))
    (src / "empty.jpg").write_bytes(b"")
    (src / "<img src=x onerror=alert(1)>.png").write_bytes(b"not a png at all" * 10)
    opts = BatchOptions(source=str(src), dest=str(tmp_path / "out"), workers=1, journal=tmp_path / "j.sqlite",
                        show_progress=False)
    result = run_batch(opts)
    assert result.counts == {"measured": 3, "failed": 2}
    path = write_report(tmp_path / "report.html", result, aggregate(result.summaries), opts)

    from playwright.sync_api import sync_playwright

    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        plots = page.eval_on_selector_all("svg.plot", """els => els.map(e => {
            const r = e.getBoundingClientRect();
            const bars = [...e.querySelectorAll('rect')].map(b => b.getBoundingClientRect().height);
            return {w: r.width, h: r.height, bars: bars.length, tallest: Math.max(0, ...bars)};
        })""")
        thumbs = page.eval_on_selector_all("img", "els => els.map(i => [i.complete, i.naturalWidth])")
        failures = page.eval_on_selector_all("#failures tr", "rows => rows.map(r => r.innerText)")
        scripts = page.eval_on_selector_all("script", "els => els.length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()

    assert problems == [] and requests == []
    assert len(plots) >= 3  # organs per class, at least one area histogram, px/cm
    assert all(p["w"] > 100 and p["h"] > 100 and p["bars"] > 0 and p["tallest"] > 5 for p in plots), plots
    assert len(thumbs) == 3 and all(ok and w > 0 for ok, w in thumbs), thumbs
    assert len(failures) == 3 and any("<img src=x onerror=alert(1)>.png" in row for row in failures)  # escaped text
    assert scripts == 0
