"""Kubernetes resource quantities, read once for the FDL (``cpu``, ``memory``) and for the
nodes' allocatable resources (batch capacity planning)."""
from __future__ import annotations

import re

# Kubernetes' suffixes, case and all (k8s.io/apimachinery resource.Quantity): both callers hand
# these values to Kubernetes, so they mean here what they mean there ("512m" is 0.512 bytes).
_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?\s*")


def parse_memory(value) -> int:
    """Quantity -> whole bytes (``6Gi``, ``512Mi``, ``2G``, ``16331396Ki``, ``1000000``), read as
    Kubernetes reads it; an unknown suffix (``2g``) is refused."""
    m = _QUANTITY.fullmatch(str(value))
    if not m:
        raise ValueError(f"invalid memory quantity {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def parse_cpu(value, *, positive: bool = True) -> float:
    """CPU quantity -> cores (``'2.0'``, ``'500m'``, ``2``); ``positive``: refuse 0 (a request)."""
    s = str(value).strip()
    try:
        cores = float(s[:-1]) / 1000 if s.endswith("m") else float(s)
    except ValueError:
        raise ValueError(f"invalid cpu quantity {value!r}") from None
    if cores < 0 or (positive and cores == 0):
        raise ValueError(f"invalid cpu quantity {value!r}")
    return cores


def parse_millicores(value) -> int:
    """CPU quantity -> millicores, 0 allowed (a node with nothing left)."""
    return int(round(parse_cpu(value, positive=False) * 1000))
