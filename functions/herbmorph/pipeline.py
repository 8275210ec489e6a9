"""The three cores run in-process: decode → segment → scale → area.

This is what `herbmorph measure`, DEEPaaS and batch call; the OSCAR functions call the same
cores one stage at a time. Nothing here touches storage: writing is ``outputs``' job.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .area import build_document
from .config import Settings
from .errors import HerbmorphError, brief
from .imageio import describe, load_image
from .outputs import clash_stem, error_document, safe_stem, sanitize_message, write_error, write_result
from .results import ErrorDocument, ErrorInfo, ImageInfo, ResultDocument, SegmentResult

log = logging.getLogger(__name__)


@dataclass
class Measurement:
    doc: ResultDocument | ErrorDocument
    rgb: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return isinstance(self.doc, ResultDocument)


class Pipeline:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        from .scale.core import ScalePredictor
        from .segment.core import SegmentPredictor

        self.segment = SegmentPredictor(self.settings)
        self.scale = ScalePredictor(self.settings)

    def setup(self) -> "Pipeline":
        self.segment.setup()
        self.scale.setup()
        return self

    def measure_image(self, rgb: np.ndarray, info: ImageInfo, warnings: list[str] = (), *,
                      conf: float | None = None, imgsz: int | None = None) -> ResultDocument:
        """One stage's internal failure costs that stage's findings only: the organs survive a
        scale failure (the scale core answers null with the reason itself), and the scale
        survives an organ-model failure, recorded in ``errors``. ``conf``/``imgsz`` override the
        settings for this call only (the DEEPaaS API's per-request options)."""
        errors = list(warnings)
        conf = self.settings.conf if conf is None else conf
        imgsz = imgsz or self.settings.imgsz
        t0 = time.perf_counter()
        try:
            seg = self.segment.predict(rgb, imgsz=imgsz, conf=conf)
        except Exception as exc:  # noqa: BLE001 — the scale reading must survive
            log.exception("segment stage failed")
            errors.append(f"segment stage failed: {brief(exc)}")
            seg = SegmentResult(organs=[], model=self.segment.info, imgsz=imgsz, conf=conf)
        t1 = time.perf_counter()
        scale = self.scale.predict(rgb)
        t2 = time.perf_counter()
        timings = {"segment": round((t1 - t0) * 1000, 1), "scale": round((t2 - t1) * 1000, 1)}
        # build_document times itself into timings_ms["area"]
        return build_document(info, seg, scale, timings, errors=errors)

    def measure(self, source, uri: str | None = None, *, conf: float | None = None,
                imgsz: int | None = None) -> Measurement:
        """Never raises for a bad image: the failure comes back as an error document."""
        stage = "decode"
        try:
            img = load_image(source, uri, max_pixels=self.settings.max_pixels, max_bytes=self.settings.max_bytes)
            stage = "measure"
            return Measurement(self.measure_image(img.rgb, img.info, img.warnings, conf=conf, imgsz=imgsz), img.rgb)
        except HerbmorphError as exc:
            info = getattr(exc, "image_info", None) or describe(source, uri)
            return Measurement(error_document(info, stage, exc))
        except Exception as exc:  # noqa: BLE001 — every input must end with a document
            return Measurement(error_document(describe(source, uri), stage, exc))


def measure_to_dir(pipeline: Pipeline, paths: list[Path], out_dir: Path, on_done=None) -> list[Measurement]:
    """Outputs are named by file name (:func:`safe_stem`), so ``a/x.jpg`` and ``b/x.jpg`` want one
    name: the first keeps it, a later one is not measured and gets a ``name-clash`` error document
    under its own name (``x.jpg~`` + 16 hex digits of its path's sha256), never an overwrite."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    named: dict[str, tuple[str, Path]] = {}  # output name -> the input (absolute path, as given) that took it
    for path in paths:
        stem, key = safe_stem(str(path)), os.path.abspath(path)
        first, given = named.setdefault(stem, (key, path))
        if first != key:
            m = Measurement(ErrorDocument(image=describe(path, str(path)), stage="output", error=ErrorInfo(
                kind="name-clash", message=sanitize_message(f"same output name {stem!r} as {given}; not measured"))))
            stem = clash_stem(str(path), key)
        else:
            m = pipeline.measure(path, str(path))
        if m.ok:
            write_result(out_dir, stem, m.doc, m.rgb)
        else:
            write_error(out_dir, stem, m.doc)
        m.rgb = None  # do not hold every decoded sheet in memory
        results.append(m)
        if on_done:
            on_done(path, m)
    return results
