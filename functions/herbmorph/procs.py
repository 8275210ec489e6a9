"""Process helpers the long-running adapters share (warm workers, the zygote, batch workers)."""
from __future__ import annotations

import os
import resource
import sys


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies (``PR_SET_PDEATHSIG``), so a SIGKILLed runtime or
    batch leaves no orphan that could write after its replacement. The signal follows the parent
    *thread*: only call it in children of a thread that lives as long as the parent."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the caller's pipe EOF still ends the child
        pass


def current_rss() -> int:
    """Resident set size of this process, in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def rss_bytes() -> dict:
    """Current and peak resident memory of this process, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return {"rss": current_rss(), "peak": peak}


def trim_heap() -> None:
    """Hand freed memory back to the OS (glibc ``malloc_trim``): after a full-size sheet, a worker
    should hold what it keeps (its model), not the high-water mark of the last call."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:  # noqa: BLE001 - not glibc: nothing to trim
        pass
