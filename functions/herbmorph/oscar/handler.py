"""OSCAR function entry point: ``python3 -m herbmorph.oscar.handler <stage>`` in each function's
``script.sh``, for one stage of the linear chain ``segment -> scale -> area``.

The call is read from the supervisor's environment (:mod:`.invocation`), the stage runs
(:mod:`.stages`), and the area stage then removes the *other* outcome's stale objects from the
results folder (a result replaces an old ``.error.json`` and vice versa), best effort, in the
store the configuration names (:func:`herbmorph.store.open_store`).

Guarantees: writes only below ``TMP_OUTPUT_DIR`` (plus that clean-up); never raises out of
:func:`main`; reprocessing a key writes the same names (MinIO delivers events at least once);
models are loaded once per process; the ``area`` stage never imports torch, ultralytics or
tesserocr.

Exit status: 0 when a stage/result document was written (or a stale event dropped), 1 when an error
document was written, 2 when nothing could be written. OSCAR ignores it; it helps people and tests.

Settings (env): ``HERBMORPH_STORE_DIR`` or S3 credentials (:mod:`herbmorph.store`),
``HERBMORPH_BUCKET`` (bucket when the event names none), ``HERBMORPH_INPUT_PREFIX`` (folder of the
input path, default from the FDL, else ``in``/``segmented``/``scaled``), ``HERBMORPH_OUTPUT_PATH``
(``bucket/folder`` of the area stage's output for the stale clean-up, default from the FDL),
``HERBMORPH_REMOVE_STALE=0`` (skip that clean-up), ``HERBMORPH_PIXEL_CACHE`` (a folder where segment
leaves the decoded original for scale and area on the same machine: :mod:`.pixels`), plus every
:class:`herbmorph.config.Settings` variable, read per call.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and os.environ.get("HERBMORPH_WARM_SOCKET"):
    # Under `herbmorph serve`: hand this call to the warm worker (models already loaded) before
    # importing anything heavy. Falls through to the cold path when the worker is unreachable.
    from herbmorph.warmwire import forward

    _code = forward(sys.argv[1:])
    if _code is not None:
        sys.exit(_code)
from pathlib import Path
from typing import Mapping

from herbmorph.logsafe import escape_controls
from herbmorph.outputs import output_relpath
from herbmorph.publish import Outcomes, write_error
from herbmorph.results import ImageInfo, error_document

from .invocation import DEFAULT_INPUT_PREFIX, STAGES, Invocation
from .stages import EXIT_ERROR_DOC, EXIT_NOTHING, EXIT_OK, RUNNERS, Outcome


def _remove_stale_counterparts(inv: Invocation, outcome: Outcome) -> None:
    """Area stage: delete the other outcome's objects for ``<r>`` in the results folder."""
    if inv.stage != "area" or outcome.code == EXIT_NOTHING or not outcome.written:
        return
    if inv.env.get("HERBMORPH_REMOVE_STALE", "1") == "0":
        return
    bucket, folder = inv.output_path()
    if not bucket:
        return
    try:
        Outcomes(inv.store, bucket, folder).clear_other(inv.relpath, "result" if outcome.code == EXIT_OK else "error")
    except Exception as exc:  # noqa: BLE001 - never let the clean-up cost the document
        print(escape_controls(f"herbmorph area: stale clean-up skipped ({type(exc).__name__}: {exc})"), file=sys.stderr)


def _last_resort(stage: str, exc: BaseException, env: Mapping[str, str]) -> int:
    """Nothing worked (no TMP_OUTPUT_DIR, unknown stage...): try once more to leave a document."""
    out = env.get("TMP_OUTPUT_DIR")
    key = env.get("STORAGE_OBJECT_KEY") or env.get("INPUT_FILE_PATH") or ""
    print(escape_controls(f"herbmorph {stage or '?'}: {type(exc).__name__}: {exc}"), file=sys.stderr)
    if not out:
        return EXIT_NOTHING
    try:
        rel = output_relpath(key, DEFAULT_INPUT_PREFIX.get(stage, ""))
        write_error(Path(out), rel, error_document(ImageInfo(uri=key or "<unknown>"), stage or "oscar", exc))
        return EXIT_ERROR_DOC
    except Exception as exc2:  # noqa: BLE001
        print(escape_controls(f"herbmorph {stage or '?'}: cannot write an error document: {exc2}"), file=sys.stderr)
        return EXIT_NOTHING


def main(stage: str | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one stage for the object the supervisor handed over. Never raises.

    ``env`` defaults to this process's environment; a warm worker passes the caller's instead.
    """
    if stage is None:
        stage = sys.argv[1] if len(sys.argv) > 1 else ""
    env = dict(os.environ if env is None else env)
    try:
        if stage not in RUNNERS:
            raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
        inv = Invocation.from_env(stage, env)
    except Exception as exc:  # noqa: BLE001
        return _last_resort(stage, exc, env)
    try:
        outcome = RUNNERS[stage](inv)
    except Exception as exc:  # noqa: BLE001 - e.g. the error document itself could not be written
        return _last_resort(stage, exc, env)
    _remove_stale_counterparts(inv, outcome)
    names = ", ".join(str(p.relative_to(inv.out_dir)) for p in outcome.written) or "nothing"
    line = f"herbmorph {stage}: {inv.key} -> {names}" + (f" ({outcome.note})" if outcome.note else "")
    print(escape_controls(line), file=sys.stderr if outcome.code else sys.stdout)  # the key is the uploader's
    return outcome.code


if __name__ == "__main__":
    import logging

    from herbmorph import logsafe

    logsafe.setup(logging.WARNING)
    sys.exit(main())
