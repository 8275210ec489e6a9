"""Synthetic herbarium sheets with exact labels (organ masks, ruler boxes, px/cm, digit positions).

Modules: ``rulers`` (rulers and colour charts), ``paper``, ``organs``, ``clutter`` (labels,
barcodes, stamps, tape, envelopes), ``sheet`` (one sheet + ground truth), ``dataset`` (writing
many sheets and exporting Ultralytics datasets). Coordinates follow the continuous convention
documented in :mod:`herbmorph.synth.rulers` (pixel i covers [i, i+1)).

Only numpy, OpenCV, Pillow, PyYAML and rich are needed (no torch, no scipy).
"""
from .dataset import export_yolo, generate_dataset
from .rulers import RULER_DESIGNS, RulerDrawing, render_colour_chart, render_ruler
from .sheet import GT_FORMAT, SheetSample, generate_sheet, generate_sheet_sample

__all__ = ["RULER_DESIGNS", "RulerDrawing", "render_colour_chart", "render_ruler", "GT_FORMAT",
           "SheetSample", "generate_sheet", "generate_sheet_sample", "generate_dataset",
           "export_yolo"]
