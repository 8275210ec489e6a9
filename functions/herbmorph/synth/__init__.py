"""Synthetic herbarium sheets with exact labels (organ masks, ruler boxes, px/cm, digit positions).

Modules: ``rulers`` and ``targets`` (rulers, colour charts and targets), ``scalebars``
(printed scale bars: one bar, one length label), ``paper``, ``clutter``
(labels, barcodes, stamps, envelopes), ``colours`` (how pressed plants dry: green through olive,
yellow-brown and brown to near black), ``leafshapes`` and ``leaves`` (leaves of every common
shape, either face up, folded, with venation), ``organs`` (stems, roots, flowers, fruits, seeds),
``plants`` (whole specimens: leafy branches, herbs with roots, grasses, loose leaves, conifer
twigs, fragments), ``extras`` (seed packets, tape), ``placement`` (occlusion and the ground
truth's rules), ``sheet`` (one sheet + ground truth), ``dataset`` (writing many sheets and
exporting Ultralytics datasets). Coordinates follow the continuous convention
documented in :mod:`herbmorph.synth.rulers` (pixel i covers [i, i+1)).

Only numpy, OpenCV, Pillow, PyYAML and rich are needed (no torch, no scipy).
"""
from .dataset import export_yolo, generate_dataset
from .rulers import RULER_DESIGNS, RulerDrawing, render_colour_chart, render_ruler
from .sheet import GT_FORMAT, SheetSample, generate_sheet, generate_sheet_sample

__all__ = ["RULER_DESIGNS", "RulerDrawing", "render_colour_chart", "render_ruler", "GT_FORMAT",
           "SheetSample", "generate_sheet", "generate_sheet_sample", "generate_dataset",
           "export_yolo"]
