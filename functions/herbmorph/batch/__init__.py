"""Batch reprocessing: ``herbmorph batch SOURCE --out DEST``.

Lists the images under a bucket prefix or folder, skips those whose result is current (same image
sha256 and same model sha256s), and measures the rest in worker processes that each load the
models once. Outputs are exactly the event chain's (``<r>.json``, ``.opends.json``,
``.overlay.png`` or ``.error.json`` at ``output_relpath(key, source prefix)``), so batch and
event-driven results mix. Resumable through a journal; parallelism sized from this machine's
cores and memory, an OSCAR cluster's ``/system/status`` or Kubernetes nodes' allocatable resources.

Modules: :mod:`.stores` (S3/local sources and destinations), :mod:`.journal`, :mod:`.worker`,
:mod:`.runner` (the coordinator), :mod:`.capacity`, :mod:`.summary`, :mod:`.report` (HTML),
:mod:`.oscar_jobs` (cluster submission), :mod:`.cli`, :mod:`.bench`.
"""
from .runner import BatchOptions, BatchResult, run_batch

__all__ = ["BatchOptions", "BatchResult", "run_batch"]
