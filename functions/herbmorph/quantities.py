"""Kubernetes resource quantities, read once for the FDL (``cpu``, ``memory``) and for the
nodes' allocatable resources (batch capacity planning)."""
from __future__ import annotations

import re

_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50, "ei": 2**60}
_QUANTITY = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGtTpPeE]i?)?\s*")


def parse_memory(value) -> int:
    """Quantity -> bytes (``6Gi``, ``512Mi``, ``2G``, ``16331396Ki``, ``1000000``). Units are read
    case-insensitively, as FDL authors write them (``512m`` is 512 MB, not 0.512 bytes)."""
    m = _QUANTITY.fullmatch(str(value))
    if not m:
        raise ValueError(f"invalid memory quantity {value!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


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
