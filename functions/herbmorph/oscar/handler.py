"""OSCAR function handler: one stage of the linear chain ``segment -> scale -> area``.

Each function's ``script.sh`` runs ``python3 -m herbmorph.oscar.handler <stage>``. OSCAR's
faas-supervisor has already downloaded the triggering object and set

``INPUT_FILE_PATH``     the downloaded object;
``STORAGE_OBJECT_KEY``  its key inside the bucket (URL-decoded);
``TMP_OUTPUT_DIR``      the folder whose files it uploads to the function's output path afterwards;
``EVENT``               the storage event (S3/MinIO records: the bucket name is read from it).

The chain (one bucket, four folders; see ``fdl/README.md``)::

    herbarium/in/<k>.jpg ─segment─► herbarium/segmented/<r>.segment.json
                         ─scale──► herbarium/scaled/<r>.scale.json
                         ─area───► herbarium/results/<r>.json + <r>.opends.json + <r>.overlay.png

``<r>`` is :func:`herbmorph.outputs.output_relpath` of the upload's key below ``in/``: the key's
sub-folders are mirrored, cleaned, and can never climb out of the output folder. A stage document
(``herbmorph/stage/1``) carries the original upload's :class:`~herbmorph.results.ImageInfo`
(``uri`` = ``s3://bucket/key``, ``sha256``, size), the results so far, the decode warnings and
the timings. ``scale`` and ``area`` fetch the original again (S3 via :mod:`herbmorph.storage`, or a
local mirror named by ``HERBMORPH_SOURCE_DIR``) and check its sha256 against the document.

Guarantees
----------
* Writes only below ``TMP_OUTPUT_DIR``; never raises out of :func:`main`.
* Any failure becomes ``<r>.error.json`` (``herbmorph/error/1``) in the stage's output; a stage that
  receives an error document copies it, byte for byte, to its own output, so every upload ends with
  exactly one result or one error document in ``results/``.
* Reprocessing a key writes the same names (idempotent; MinIO delivers events at least once). The
  area stage also removes the *other* outcome's stale objects from ``results/`` (a result replaces an
  old ``.error.json`` and vice versa), best effort, in the bucket when it has storage credentials,
  or in the folder under ``HERBMORPH_SOURCE_DIR`` (the embedded runtime's folder mode).
* A stage document whose original has been replaced since (sha256 differs) is dropped with a log
  line and no output: the replacement upload has its own chain, and an error written here could land
  after, and overwrite, that newer outcome.
* Models are loaded once per process through the cores' predictor classes; the ``area`` stage never
  imports torch, ultralytics or tesserocr.

Exit status: 0 when a stage/result document was written (or a stale event dropped), 1 when an error
document was written, 2 when nothing could be written. OSCAR ignores it; it helps people and tests.

Other settings (env): ``HERBMORPH_SOURCE_DIR`` (local mirror of the buckets: ``DIR/<bucket>/<key>``
or ``DIR/<key>``, for the embedded runtime and tests), ``HERBMORPH_BUCKET`` (bucket when the event
names none), ``HERBMORPH_INPUT_PREFIX`` (folder of the input path, default from the function's FDL,
else ``in``/``segmented``/``scaled``), ``HERBMORPH_OUTPUT_PATH`` (``bucket/folder`` of the area
stage's output for the stale clean-up, default from the FDL), ``HERBMORPH_REMOVE_STALE=0`` (skip that
clean-up), ``HERBMORPH_PIXEL_CACHE`` (a folder where segment leaves the decoded original for scale
and area on the same machine: :mod:`herbmorph.oscar.pixels`), plus every
:class:`herbmorph.config.Settings` variable.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time

if __name__ == "__main__" and os.environ.get("HERBMORPH_WARM_SOCKET"):
    # Under `herbmorph serve`: hand this call to the warm worker (models already loaded) before
    # importing anything heavy. Falls through to the cold path when the worker is unreachable.
    from herbmorph.runtime.warm import forward

    _code = forward(sys.argv[1:])
    if _code is not None:
        sys.exit(_code)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional
from urllib.parse import unquote_plus

from herbmorph.config import Settings
from herbmorph.errors import HerbmorphError
from herbmorph.imageio import LoadedImage, describe, load_image, sha256_bytes
from herbmorph.logsafe import escape_controls
from herbmorph.oscar.pixels import PixelCache
from herbmorph.outputs import (
    ERROR_SUFFIX,
    RESULT_SUFFIXES,
    _target,
    atomic_write,
    error_document,
    is_output_relpath,
    output_relpath,
    write_error,
)
from herbmorph.results import (
    ERROR_SCHEMA,
    ErrorDocument,
    ImageInfo,
    ScaleResult,
    SegmentResult,
)
from herbmorph.storage import (
    client_from_env,
    fetch_bytes,
    function_config,
    parse_s3_uri,
    read_local_object,
    remove_objects,
    s3_uri,
)

STAGE_SCHEMA = "herbmorph/stage/1"
STAGES = ("segment", "scale", "area")
#: what each stage writes (the area stage writes the final result files instead)
STAGE_SUFFIX = {"segment": ".segment.json", "scale": ".scale.json"}
#: the stage whose document each stage consumes
UPSTREAM = {"scale": "segment", "area": "scale"}
#: the folder of each stage's input path in the documented chain (herbarium/<folder>)
DEFAULT_INPUT_PREFIX = {"segment": "in", "scale": "segmented", "area": "scaled"}
DEFAULT_BUCKET = "herbarium"

EXIT_OK, EXIT_ERROR_DOC, EXIT_NOTHING = 0, 1, 2

# One predictor per stage per process: an embedded runtime or a warm container reuses it.
_PREDICTORS: dict[str, Any] = {}


class StageDocumentError(HerbmorphError):
    kind = "bad-stage-document"


# ------------------------------------------------------------------------------ invocation


def _event_location(raw: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(bucket, key) from an S3/MinIO event (``Records[0].s3``, or MinIO's ``Key`` = bucket/key)."""
    if not raw:
        return None, None
    try:
        event = json.loads(raw)
        if isinstance(event, dict) and isinstance(event.get("event"), dict):
            event = event["event"]  # some callers wrap it
        records = event.get("Records") if isinstance(event, dict) else None
        if records:
            s3 = records[0].get("s3") or {}
            bucket = (s3.get("bucket") or {}).get("name")
            key = (s3.get("object") or {}).get("key")
            return bucket or None, unquote_plus(key) if key else None
        if isinstance(event, dict) and isinstance(event.get("Key"), str) and "/" in event["Key"]:
            bucket, _, key = event["Key"].partition("/")
            return bucket, key
    except Exception:  # noqa: BLE001 - a sync call's body is not an event
        pass
    return None, None


def _split_path(path: str) -> tuple[str, str]:
    bucket, _, folder = str(path).strip(" /").partition("/")
    return bucket, folder.strip("/")


def stage_relpath(stage: str, key: str, input_prefix: str) -> str:
    """The output path (no suffix) ``stage`` writes for input ``key``: the same ``<r>`` at every stage."""
    upstream = UPSTREAM.get(stage)
    prefix = input_prefix.strip("/")
    if upstream and key.startswith(prefix + "/" if prefix else ""):
        # <r>.segment.json / <r>.error.json: <r> was named by the first stage; read it back as is
        rel = key[len(prefix) + 1:] if prefix else key
        for tag in (STAGE_SUFFIX[upstream], ERROR_SUFFIX):
            if rel.endswith(tag) and is_output_relpath(rel[: -len(tag)]):
                return rel[: -len(tag)]
    return output_relpath(key, input_prefix)  # anything else (a key nobody of ours wrote): named afresh


@dataclass
class Invocation:
    stage: str
    out_dir: Path
    input_path: Optional[Path]
    key: str
    bucket: str
    input_prefix: str
    settings: Settings
    config: dict = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, stage: str, env: Mapping[str, str] | None = None) -> "Invocation":
        env = dict(os.environ if env is None else env)
        out = env.get("TMP_OUTPUT_DIR")
        if not out:
            raise RuntimeError("TMP_OUTPUT_DIR is not set: run under OSCAR's supervisor or set it")
        input_path = Path(env["INPUT_FILE_PATH"]) if env.get("INPUT_FILE_PATH") else None
        ev_bucket, ev_key = _event_location(env.get("EVENT"))
        config = function_config(env)
        key = env.get("STORAGE_OBJECT_KEY") or ev_key or (input_path.name if input_path else "")
        inputs = [i for i in (config.get("input") or []) if isinstance(i, dict) and i.get("path")]
        cfg_bucket, cfg_folder = _split_path(inputs[0]["path"]) if inputs else ("", "")
        bucket = ev_bucket or env.get("HERBMORPH_BUCKET") or cfg_bucket or DEFAULT_BUCKET
        prefix = env.get("HERBMORPH_INPUT_PREFIX")
        if not prefix:
            # the input path whose folder the key is under (a function may have several inputs)
            for entry in inputs:
                b, folder = _split_path(entry["path"])
                if b == bucket and folder and key.startswith(folder + "/"):
                    prefix = folder
                    break
        prefix = (prefix or DEFAULT_INPUT_PREFIX.get(stage, "")).strip("/")
        return cls(stage=stage, out_dir=Path(out), input_path=input_path, key=key, bucket=bucket,
                   input_prefix=prefix, settings=Settings(), config=config, env=env)

    @property
    def relpath(self) -> str:
        """Output path (no suffix) below the output folder; identical across the three stages."""
        return stage_relpath(self.stage, self.key, self.input_prefix)

    @property
    def object_uri(self) -> str:
        return s3_uri(self.bucket, self.key)

    @functools.cached_property
    def pixels(self) -> Optional[PixelCache]:
        """The decoded originals shared with the other stages on this machine, if any."""
        return PixelCache.from_env(self.env)


# -------------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    code: int
    written: list[Path] = field(default_factory=list)
    note: str = ""
    error: Optional[ErrorDocument] = None


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _error(inv: Invocation, info: ImageInfo, stage: str, exc: BaseException) -> Outcome:
    doc = error_document(info, stage, exc)
    return Outcome(EXIT_ERROR_DOC, [write_error(inv.out_dir, inv.relpath, doc)], doc.error.message, doc)


def _write_stage_doc(inv: Invocation, doc: dict) -> Outcome:
    path = atomic_write(_target(inv.out_dir, inv.relpath, STAGE_SUFFIX[inv.stage]), _dumps(doc))
    return Outcome(EXIT_OK, [path])


def _predictor(stage: str, settings: Settings):
    predictor = _PREDICTORS.get(stage)
    if predictor is None:
        if stage == "segment":
            from herbmorph.segment.core import SegmentPredictor

            predictor = SegmentPredictor(settings).setup()
        else:
            from herbmorph.scale.core import ScalePredictor

            predictor = ScalePredictor(settings).setup()
        _PREDICTORS[stage] = predictor
    return predictor


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


# ---------------------------------------------------------------------------- upstream docs


@dataclass
class Upstream:
    raw: bytes
    data: Optional[dict] = None  # the stage document
    error: Optional[ErrorDocument] = None  # or an error document to pass through
    image: Optional[ImageInfo] = None


def _read_upstream(inv: Invocation) -> Upstream:
    """The stage document (or error document) that triggered ``inv``; raises StageDocumentError."""
    if inv.input_path is None:
        raise StageDocumentError("INPUT_FILE_PATH is not set: no stage document to read")
    try:
        size = inv.input_path.stat().st_size
        if size > inv.settings.max_bytes:
            raise StageDocumentError(f"{inv.key}: stage document of {size:,} bytes is over the limit")
        raw = inv.input_path.read_bytes()
    except OSError as exc:
        raise StageDocumentError(f"cannot read the stage document {inv.key}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StageDocumentError(f"{inv.key} is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise StageDocumentError(f"{inv.key} is not a herbmorph stage document")
    if data.get("schema") == ERROR_SCHEMA:
        try:
            return Upstream(raw, error=ErrorDocument.model_validate(data))
        except Exception as exc:  # noqa: BLE001
            raise StageDocumentError(f"{inv.key}: invalid error document ({exc})") from exc
    expected = UPSTREAM[inv.stage]
    if data.get("schema") != STAGE_SCHEMA or data.get("stage") != expected:
        raise StageDocumentError(
            f"{inv.key} is not a {expected!r} stage document ({STAGE_SCHEMA}); got schema="
            f"{data.get('schema')!r} stage={data.get('stage')!r}")
    try:
        image = ImageInfo.model_validate(data.get("image"))
        SegmentResult.model_validate(data.get("segment"))
        if expected == "scale":
            ScaleResult.model_validate(data.get("scale"))
    except Exception as exc:  # noqa: BLE001
        raise StageDocumentError(f"{inv.key}: invalid {expected!r} stage document ({exc})") from exc
    return Upstream(raw, data=data, image=image)


def _upstream_image(inv: Invocation) -> ImageInfo:
    """Best-effort image identity for an error raised before the stage document was parsed."""
    try:
        data = json.loads(inv.input_path.read_bytes()) if inv.input_path else None
        return ImageInfo.model_validate(data["image"])
    except Exception:  # noqa: BLE001
        return ImageInfo(uri=inv.object_uri)


def _pass_through(inv: Invocation, up: Upstream) -> Outcome:
    """Copy an upstream error document, byte for byte, to ``<r>.error.json``."""
    path = atomic_write(_target(inv.out_dir, inv.relpath, ERROR_SUFFIX), up.raw)
    for sfx in RESULT_SUFFIXES:  # this folder describes one outcome only
        try:
            os.unlink(_target(inv.out_dir, inv.relpath, sfx))
        except FileNotFoundError:
            pass
    return Outcome(EXIT_ERROR_DOC, [path], f"passed through: {up.error.error.kind}", up.error)


def _fetch_original(inv: Invocation, image: ImageInfo):
    """Decode the original upload named by ``image.uri``; None when it changed since (stale)."""
    try:
        bucket, key = parse_s3_uri(image.uri)
    except ValueError as exc:
        raise StageDocumentError(f"stage document names no fetchable original: {exc}") from exc
    max_bytes = inv.settings.max_bytes
    source_dir = inv.env.get("HERBMORPH_SOURCE_DIR")
    if source_dir:
        data = read_local_object(source_dir, bucket, key, max_bytes)  # never through a link
        if data is None:
            raise HerbmorphError(f"{image.uri}: not found under HERBMORPH_SOURCE_DIR", kind="not-found")
    else:
        data = fetch_bytes(image.uri, max_bytes=max_bytes, client=client_from_env(inv.env))
    if image.sha256 and sha256_bytes(data) != image.sha256:
        return None
    rgb = inv.pixels.get(image.sha256, inv.settings.max_pixels) if inv.pixels and image.sha256 else None
    if rgb is not None:
        return LoadedImage(rgb=rgb, info=image)
    return load_image(data, image.uri, max_pixels=inv.settings.max_pixels, max_bytes=max_bytes)


# ----------------------------------------------------------------------------------- stages


def _timed_predict(stage: str, inv: Invocation, rgb):
    """Run a stage's predictor (loaded once per process) and time it in ms."""
    predictor = _predictor(stage, inv.settings)
    t0 = time.perf_counter()
    result = predictor.predict(rgb)
    return result, _ms(t0)


def run_segment(inv: Invocation) -> Outcome:
    uri = inv.object_uri
    source = inv.input_path if inv.input_path is not None else b""
    try:
        img = load_image(source, uri, max_pixels=inv.settings.max_pixels, max_bytes=inv.settings.max_bytes)
    except Exception as exc:  # noqa: BLE001 - the same kinds the CLI reports
        info = getattr(exc, "image_info", None) or describe(source, uri)
        return _error(inv, info, "decode", exc)
    try:
        seg, ms = _timed_predict("segment", inv, img.rgb)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, img.info, "segment", exc)
    if inv.pixels:
        inv.pixels.put(img.info.sha256, img.rgb)
    return _write_stage_doc(inv, {
        "schema": STAGE_SCHEMA,
        "stage": "segment",
        "image": img.info.model_dump(mode="json", by_alias=True),
        "segment": seg.model_dump(mode="json", by_alias=True),
        "warnings": list(img.warnings),
        "timings_ms": {"segment": ms},
    })


def _upstream_with_original(inv: Invocation, stage: str):
    """Shared start of the downstream stages: read the stage doc, pass errors through, fetch the
    original. Returns an Outcome when the stage is already finished, else (upstream, image)."""
    try:
        up = _read_upstream(inv)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, _upstream_image(inv), stage, exc)
    if up.error is not None:
        return _pass_through(inv, up)
    try:
        img = _fetch_original(inv, up.image)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, up.image, stage, exc)
    if img is None:
        return Outcome(EXIT_OK, note=f"stale: {up.image.uri} changed since segmentation; dropped")
    return up, img


def run_scale(inv: Invocation) -> Outcome:
    got = _upstream_with_original(inv, "scale")
    if isinstance(got, Outcome):
        return got
    up, img = got
    try:
        scale, ms = _timed_predict("scale", inv, img.rgb)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, up.image, "scale", exc)
    doc = dict(up.data)
    doc["stage"] = "scale"
    doc["scale"] = scale.model_dump(mode="json", by_alias=True)
    doc["timings_ms"] = {**(doc.get("timings_ms") or {}), "scale": ms}
    return _write_stage_doc(inv, doc)


def run_area(inv: Invocation) -> Outcome:
    from herbmorph.area import build_document
    from herbmorph.outputs import write_result

    got = _upstream_with_original(inv, "area")
    if isinstance(got, Outcome):
        _release_pixels(inv, got.error.image if got.error else None)
        return got
    up, img = got
    try:
        timings = {k: float(v) for k, v in (up.data.get("timings_ms") or {}).items() if k != "area"}
        doc = build_document(up.image, SegmentResult.model_validate(up.data["segment"]),
                             ScaleResult.model_validate(up.data["scale"]), timings,
                             errors=[str(w) for w in up.data.get("warnings") or []])
        written = write_result(inv.out_dir, inv.relpath, doc, img.rgb)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, up.image, "area", exc)
    finally:
        _release_pixels(inv, up.image)
    return Outcome(EXIT_OK, written)


def _release_pixels(inv: Invocation, image: Optional[ImageInfo]) -> None:
    """The area stage ends the chain: no later stage needs the decoded original."""
    if inv.pixels and image is not None:
        inv.pixels.drop(image.sha256)


RUNNERS = {"segment": run_segment, "scale": run_scale, "area": run_area}


# ---------------------------------------------------------------------- results clean-up


def _remove_stale_counterparts(inv: Invocation, outcome: Outcome) -> None:
    """Area stage: delete the other outcome's objects for ``<r>`` in the results folder."""
    if inv.stage != "area" or outcome.code == EXIT_NOTHING or not outcome.written:
        return
    if inv.env.get("HERBMORPH_REMOVE_STALE", "1") == "0":
        return
    out_path = inv.env.get("HERBMORPH_OUTPUT_PATH")
    if not out_path:
        outputs = [o for o in (inv.config.get("output") or []) if isinstance(o, dict) and o.get("path")]
        out_path = outputs[0]["path"] if outputs else ""
    bucket, folder = _split_path(out_path)
    if not bucket:
        return
    stale = (ERROR_SUFFIX,) if outcome.code == EXIT_OK else RESULT_SUFFIXES
    base = "/".join(p for p in (folder, inv.relpath) if p)
    source_dir = inv.env.get("HERBMORPH_SOURCE_DIR")
    if source_dir:  # the buckets are local folders (the embedded runtime's folder mode)
        for sfx in stale:
            with contextlib.suppress(FileNotFoundError):
                _target(Path(source_dir) / bucket, base, sfx).unlink()
        return
    try:
        failed = remove_objects(bucket, [base + sfx for sfx in stale], client=client_from_env(inv.env))
        if failed:
            print(escape_controls(f"herbmorph area: could not remove stale {failed} from {bucket}"), file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - never let the clean-up cost the document
        print(f"herbmorph area: stale clean-up skipped ({type(exc).__name__})", file=sys.stderr)


# -------------------------------------------------------------------------------------- main


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
