"""herbmorph: measure plant organs on digitised herbarium sheets.

Kept import-light on purpose: the area stage (and its container) must never pull in torch.
"""
__version__ = "0.1.0"
