"""DEEPaaS v2 plugin: one sheet (upload or URL) in, its result document (or overlay PNG) out.

DEEPaaS imports this module in the server process (metadata, arguments, schema: all light) and
again in each ``spawn``-ed worker, where :func:`warm` loads both models once and :func:`predict`
runs the in-process cores (:class:`herbmorph.pipeline.Pipeline`), exactly as ``herbmorph measure``
does. ``deepaas-cli predict`` calls :func:`predict` directly, without ``warm``: the models are then
loaded on first use. A request's ``conf``/``imgsz`` reach the cores as arguments of that one call
(``Pipeline.measure``); the loaded pipeline is never copied or changed.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import unicodedata
import weakref

from marshmallow import missing
from webargs import fields, validate

import herbmorph
from herbmorph import logsafe, urlguard
from herbmorph.config import Settings
from herbmorph.deepaas.errors import ApiError, BadRequest, from_document
from herbmorph.deepaas.schema import build_response_schema
from herbmorph.models import model_info
from herbmorph.errors import sanitize_message
from herbmorph.results import ORGAN_CLASSES, RESULT_SCHEMA, ImageInfo, error_document

OUTPUTS = ("result", "opends", "both")
ACCEPTS = ("application/json", "image/png")
IMGSZ_RANGE = (128, 2048)
MAX_URI_CHARS = 1024
# Every text field is bounded before anything reads it: webargs checks these in the server
# process, so an oversized field never reaches (and never holds) a worker.
MAX_URL_CHARS = urlguard.MAX_URL_CHARS
MAX_CHOICE_CHARS = 32

schema = build_response_schema()

_PIPELINE = None  # one per worker process (spawn: module globals are per process)
_SERVING = False  # set by warm(): in deepaas-run's workers, whose results go back to the server


def _pipeline():
    global _PIPELINE
    if _PIPELINE is None:
        from herbmorph.pipeline import Pipeline  # torch: only in the workers, never the server

        _PIPELINE = Pipeline().setup()
    return _PIPELINE


def warm() -> None:
    """Load both models (DEEPaaS calls this once in each worker before serving)."""
    global _SERVING
    logsafe.protect_handlers()  # deepaas-run's handlers: a client's file name is escaped there too
    _SERVING = True
    _pipeline()


def get_metadata() -> dict:
    s = Settings()
    models = {}
    for stage, path in (("segment", s.segment_weights), ("scale", s.scale_weights)):
        try:
            info = model_info(path)
            models[stage] = {"name": info.name, "sha256": info.sha256, "version": f"sha256:{info.sha256[:12]}"}
        except OSError as exc:
            models[stage] = {"name": os.path.basename(str(path)), "error": type(exc).__name__}
    return {
        "id": "herbmorph",
        "name": "herbmorph",
        "description": "Measures plant organs (cm²) on herbarium sheet images: YOLO11-seg organs, "
                       "ruler OCR + tick check, openDS annotations.",
        "version": herbmorph.__version__,
        "license": "Apache-2.0",
        "author": "herbmorph contributors",
        "result_schema": RESULT_SCHEMA,
        "organ_classes": list(ORGAN_CLASSES),
        "models": models,
        "defaults": {"imgsz": s.imgsz, "conf": s.conf, "max_pixels": s.max_pixels, "max_bytes": s.max_bytes},
    }


def get_predict_args() -> dict:
    # Fresh field objects each call: DEEPaaS mutates the ``accept`` field it is given.
    form = {"location": "form"}
    return {
        "image": fields.Field(required=False, metadata={
            **form, "type": "file", "description": "The sheet (JPEG, PNG, TIFF, WebP, BMP, GIF, JPEG 2000). "
                                                   "Give either image or url."}),
        "url": fields.Str(required=False, validate=validate.Length(max=MAX_URL_CHARS), metadata={
            **form, "maxLength": MAX_URL_CHARS,
            "description": f"http(s) URL of the sheet, at most {MAX_URL_CHARS} characters; only public "
                           "addresses are fetched."}),
        "conf": fields.Float(required=False, load_default=None, validate=validate.Range(0.0, 1.0), metadata={
            **form, "description": "Organ confidence threshold (default: HERBMORPH_CONF, 0.5)."}),
        "imgsz": fields.Int(required=False, load_default=None, validate=validate.Range(*IMGSZ_RANGE), metadata={
            **form, "description": "Segment model input size in px (default: HERBMORPH_IMGSZ, 1024)."}),
        "output": fields.Str(required=False, load_default="result", validate=[
            validate.Length(max=MAX_CHOICE_CHARS), validate.OneOf(list(OUTPUTS))], metadata={
            **form, "enum": list(OUTPUTS),
            "description": "result: the herbmorph/result/1 document; opends: the openDS annotation "
                           "message; both: {result, opends}. Ignored for image/png."}),
        # DEEPaaS appends "*/*" to this field's OneOf choices, so it must stay a single OneOf
        # (a membership test: linear, and its message quotes no input).
        "accept": fields.Str(required=False, load_default=ACCEPTS[0], validate=validate.OneOf(list(ACCEPTS)), metadata={
            "location": "headers", "enum": list(ACCEPTS),
            "description": "application/json: the document; image/png: the overlay of the organs."}),
    }


def get_train_args() -> dict:
    # No training over the API (`herbmorph train` does it); deepaas-cli asks for these regardless.
    return {}


def _clean_name(name) -> str:
    """The client's file name as the document's image.uri: printable, bounded, never a path we open."""
    text = "".join(c for c in str(name or "")[: 4 * MAX_URI_CHARS] if unicodedata.category(c)[0] != "C")
    return text[:MAX_URI_CHARS] or "<upload>"


#: the name ``tempfile.mkstemp()`` / ``NamedTemporaryFile()`` give with no prefix or suffix: how
#: DEEPaaS 2.6 (server, deepaas/model/v2/wrapper.py) and deepaas-cli (deepaas/cmd/cli.py) name the
#: copy of an upload they hand us
_DEEPAAS_TEMP_NAME = re.compile(r"tmp[a-z0-9_]{8}")


def _remove_temp(upload) -> None:
    """DEEPaaS (server and CLI) copies every upload to a temp file and never deletes it. Only such
    a copy is removed: a file named the way DEEPaaS names them, directly in the temp folder, and
    not the upload's own original. A caller's own file is never touched, even one kept in /tmp."""
    path = getattr(upload, "filename", None)
    if not isinstance(path, str):
        return
    tmp = os.path.realpath(tempfile.gettempdir())
    real = os.path.realpath(path)
    original = getattr(upload, "original_filename", None)
    if (os.path.dirname(real) != tmp or not _DEEPAAS_TEMP_NAME.fullmatch(os.path.basename(real))
            or (isinstance(original, str) and os.path.realpath(original) == real)):
        return
    try:
        os.unlink(real)
    except OSError:
        pass


def _bad(message: str, uri: str = "", stage: str = "request", kind: str = "bad-request") -> BadRequest:
    from herbmorph.errors import InputError

    return from_document(error_document(ImageInfo(uri=uri), stage, InputError(message, kind=kind)))


def _check_options(url, conf, imgsz, output, accept) -> None:
    # deepaas-cli passes arguments through argparse without the webargs validators: check again,
    # lengths first (no message below quotes a value that could be long).
    if url is not None and (not isinstance(url, str) or len(url) > MAX_URL_CHARS):
        raise _bad(f"url must be text of at most {MAX_URL_CHARS} characters", kind="bad-url")
    for name, value in (("output", output), ("accept", accept)):
        if not isinstance(value, str) or len(value) > MAX_CHOICE_CHARS:
            raise _bad(f"{name} must be a short text")
    if conf is not None and not (isinstance(conf, (int, float)) and 0.0 <= conf <= 1.0):
        raise _bad(f"conf must be a number within 0..1, not {conf!r}")
    if imgsz is not None and not (isinstance(imgsz, int) and IMGSZ_RANGE[0] <= imgsz <= IMGSZ_RANGE[1]):
        raise _bad(f"imgsz must be an integer within {IMGSZ_RANGE[0]}..{IMGSZ_RANGE[1]}, not {imgsz!r}")
    if output not in OUTPUTS:
        raise _bad(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    if accept not in (*ACCEPTS, "*/*"):
        raise _bad(f"accept must be one of {', '.join(ACCEPTS)}, not {accept!r}")


def _measure(image, url, conf, imgsz):
    if (image is None) == (not url):
        raise _bad("give exactly one of image (a file upload) or url")
    pipeline = _pipeline()
    if image is not None:
        if not hasattr(image, "filename") or not isinstance(image.filename, str):
            raise _bad("image must be a file upload (multipart/form-data with a file name)")
        return pipeline.measure(image.filename, _clean_name(image.original_filename), conf=conf, imgsz=imgsz)
    from herbmorph.urlfetch import UrlError, fetch

    uri = sanitize_message(url)  # signed-URL parameters and user:password never reach the document
    try:
        fetched = fetch(url, max_bytes=pipeline.settings.max_bytes)
    except UrlError as exc:
        raise from_document(error_document(ImageInfo(uri=uri), "fetch", exc)) from None
    return pipeline.measure(fetched.data, uri, conf=conf, imgsz=imgsz)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _png(data: bytes) -> io.BytesIO:
    """The overlay in the form every DEEPaaS consumer takes. deepaas-run sends a BytesIO as the
    body, and deepaas-cli 2.6.0 writes its buffer (it tests ``type(task) is io.BytesIO``); other
    deepaas-cli releases copy the file named by ``task.name`` (ai4os/DEEPaaS deepaas/cmd/cli.py:
    ``shutil.copy(task.name, out_file)``). So outside a server the bytes are also written to a temp
    file named there, removed when the object is released or at exit at the latest."""
    buf = io.BytesIO(data)
    if not _SERVING:
        fd, path = tempfile.mkstemp(prefix="herbmorph-overlay-", suffix=".png")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        buf.name = path
        weakref.finalize(buf, _unlink_quietly, path)
    return buf


def _respond(m, output, accept):
    if not m.ok:
        raise from_document(m.doc)
    if accept == "image/png":
        from herbmorph.area.overlay import render_overlay

        return _png(render_overlay(m.rgb, m.doc))
    result = m.doc.model_dump(mode="json", by_alias=True)  # what to_json serialises, as a dict
    if output == "result":
        return result
    from herbmorph.area.opends import annotation_event
    from herbmorph.publish import default_job_id

    event = annotation_event(m.doc, default_job_id(m.doc))
    return event if output == "opends" else {"result": result, "opends": event}


def predict(image=None, url=None, conf=None, imgsz=None, output="result", accept="application/json", **_ignored):
    """Measure one sheet. Returns the result document (dict), or the overlay PNG (a BytesIO, see
    :func:`_png`) for ``accept=image/png``. Raises :class:`ApiError` (a JSON 4xx/5xx) otherwise."""
    # deepaas-cli hands an option it was not given over as marshmallow's `missing`, not None.
    url, conf, imgsz = (None if v is missing else v for v in (url, conf, imgsz))
    logsafe.protect_handlers()  # deepaas-cli does not call warm()
    try:
        try:
            _check_options(url, conf, imgsz, output or "result", accept or "application/json")
            m = _measure(image, url, conf, imgsz)
            return _respond(m, output or "result", accept or "application/json")
        finally:
            _remove_temp(image)
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything else is ours: a JSON 500, no traceback
        raise from_document(error_document(ImageInfo(uri=""), "internal", exc)) from None
