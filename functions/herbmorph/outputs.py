"""Where results land: safe output names, atomic writes, one outcome per input.

For an input with stem ``S`` an output folder ends up with exactly one of

- ``S.json`` (``herbmorph/result/1``), plus ``S.opends.json`` and ``S.overlay.png`` when asked for;
- ``S.error.json`` (``herbmorph/error/1``).

Each file is written to a temporary sibling and moved into place with ``os.replace``, so a crash
never leaves a half-written file, and a reader never sees one. ``S.json`` is written last: its
presence means the companions are complete. Writing one outcome removes the other's files.

``S.opends.json`` is an ``annotation-processing-event`` (``{"jobId", "annotations"}``), the
message a DiSSCo MAS publishes, so the file validates against
``annotation-processing-event.json``. That schema requires ``jobId``; outside a DiSSCo job the
file carries ``urn:herbmorph:<image sha256>`` (or a hash of the image URI), which a forwarder
replaces with the real job handle.

Imports no torch (the area container has none).
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile
import unicodedata
from pathlib import Path

from herbmorph.errors import HerbmorphError
from herbmorph.results import ErrorDocument, ErrorInfo, ImageInfo, ResultDocument, to_json

RESULT_SUFFIX = ".json"
OPENDS_SUFFIX = ".opends.json"
OVERLAY_SUFFIX = ".overlay.png"
ERROR_SUFFIX = ".error.json"
RESULT_SUFFIXES = (RESULT_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX)

# Name parts stay below 255 bytes (the usual filesystem limit) with the longest suffix added.
MAX_NAME_BYTES = 200
_SAFE_PUNCT = set("-_.,()[]+@=~'")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def _key_sha(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _clean_chars(s: str) -> str:
    """NFC; drop control/format chars (NUL, bidi overrides, zero-width); keep letters, marks,
    numbers, spaces and a few harmless punctuation marks; anything else becomes ``_``."""
    out = []
    for ch in unicodedata.normalize("NFC", s):
        cat = unicodedata.category(ch)
        if cat[0] == "C":  # Cc, Cf, Cs, Co, Cn
            continue
        if cat[0] in "LMN" or cat in ("Pd", "Pc"):
            out.append(ch)
        elif cat[0] == "Z":  # any space or separator -> a plain space
            out.append(" ")
        elif ch in _SAFE_PUNCT:
            out.append(ch)
        else:
            out.append("_")
    s = re.sub(r" {2,}", " ", "".join(out))
    # No hidden files, no "." / ".." and no trailing dots or spaces (Windows drops them).
    return s.lstrip(". ").rstrip(". ")


def _fit(name: str, key: str) -> str:
    if name.upper().split(".")[0] in _WINDOWS_RESERVED:
        name = name + "_"
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    tail = "-" + _key_sha(key)[:12]
    budget = MAX_NAME_BYTES - len(tail)
    cut = name.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return cut + tail


def _split_key(key: str) -> list[str]:
    return str(key).replace("\\", "/").replace("\x00", "").split("/")


def safe_stem(key: str) -> str:
    """The output stem for an input object key or path.

    The basename without its (last) extension, reduced to characters that are safe in any
    filesystem and URL path: directory parts, ``..``, NUL and other control characters and
    leading dots are gone, unicode letters and spaces are kept (``Quercus robur – ½.JPG`` ->
    ``Quercus robur – ½``). When nothing is left (``""``, ``..``, ``/``), the first 16 hex digits
    of the key's sha256 are used. A stem never contains ``/`` and never starts with ``.``.

    Two keys with the same basename in different folders (``a/x.jpg``, ``b/x.jpg``) get the same
    stem; write them through :func:`output_relpath`, which keeps each in its own mirrored folder.
    """
    key = "" if key is None else str(key)
    base = _split_key(key)[-1]
    root, ext = posixpath.splitext(base)
    # "name." or ".jpg"-like leftovers: splitext only strips a real extension.
    stem = _clean_chars(root if root.strip(". ") else base)
    stem = stem.strip()
    if not stem:
        return _key_sha(key)[:16]
    return _fit(stem, key)


def _safe_dir_parts(rel: str) -> list[str]:
    rel = posixpath.normpath("/" + rel.lstrip("/"))  # anchored: ".." can't climb above the root
    parts = []
    for p in rel.split("/"):
        if p in ("", ".", ".."):
            continue
        c = _clean_chars(p).strip()
        if c:
            parts.append(_fit(c, p))
    return parts


def output_relpath(key: str, input_prefix: str = "") -> str:
    """The output path (without suffix), relative to the output folder, for ``key``.

    Mirrors the key's folders below ``input_prefix`` (matched on whole path components) and ends
    with :func:`safe_stem`. The result is always relative, uses ``/``, and contains no ``..``,
    ``.`` or empty components: ``..`` is resolved with ``posixpath.normpath`` as if the key were
    rooted, so it can never climb out (``a/../../b.jpg`` -> ``b``), absolute paths lose their
    leading ``/`` (``/etc/passwd`` -> ``etc/passwd``), and each folder name is cleaned like a stem.
    """
    key = "" if key is None else str(key)
    parts = _split_key(key)
    dirs = "/".join(parts[:-1])
    prefix = [p for p in _split_key(input_prefix or "") if p not in ("", ".")]
    dir_parts = [p for p in dirs.split("/") if p not in ("", ".")]
    if prefix and dir_parts[: len(prefix)] == prefix:
        dir_parts = dir_parts[len(prefix):]
    return "/".join(_safe_dir_parts("/".join(dir_parts)) + [safe_stem(key)])


# ----------------------------------------------------------------------------- writing


def _target(out_dir: Path, stem: str, suffix: str) -> Path:
    """``out_dir/stem+suffix``; ``stem`` may be an :func:`output_relpath` (with ``/``)."""
    s = str(stem)
    parts = s.split("/")
    if not s or s.startswith("/") or "\\" in s or "\x00" in s or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe output stem {stem!r}: use safe_stem() or output_relpath()")
    return Path(out_dir, *parts[:-1], parts[-1] + suffix)


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _remove(paths) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def default_job_id(doc: ResultDocument) -> str:
    return f"urn:herbmorph:{doc.image.sha256 or _key_sha(doc.image.uri)}"


def render_outputs(
    doc: ResultDocument,
    rgb=None,
    *,
    opends: bool = True,
    overlay: bool = True,
    created: str | None = None,
    job_id: str | None = None,
    target_id: str | None = None,
    creator: dict | None = None,
) -> dict[str, bytes]:
    """The area function's files for ``doc``, in memory: ``{suffix: bytes}``, the result JSON last.

    ``rgb`` is the original image (H×W×3 uint8) for the overlay; without it no overlay is drawn.
    ``created``/``job_id``/``target_id``/``creator`` go to the openDS export (see module doc).
    """
    files: dict[str, bytes] = {}
    if overlay and rgb is not None:
        from herbmorph.area.overlay import render_overlay

        files[OVERLAY_SUFFIX] = render_overlay(rgb, doc)
    if opends:
        from herbmorph.area.opends import annotation_event

        event = annotation_event(
            doc, job_id or default_job_id(doc), target_id=target_id, creator=creator, created=created
        )
        files[OPENDS_SUFFIX] = (json.dumps(event, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    files[RESULT_SUFFIX] = to_json(doc).encode("utf-8")
    return files


def write_result(out_dir: Path, stem: str, doc: ResultDocument, rgb=None, **options) -> list[Path]:
    """Write ``<stem>.json`` and, when asked, ``<stem>.opends.json`` and ``<stem>.overlay.png``
    (``options``: those of :func:`render_outputs`).

    Companions not written this time are removed, as is a stale ``<stem>.error.json``, so the
    folder always describes this outcome only. Returns the paths written (result JSON last).
    """
    out_dir = Path(out_dir)
    paths = {sfx: _target(out_dir, stem, sfx) for sfx in (*RESULT_SUFFIXES, ERROR_SUFFIX)}
    files = render_outputs(doc, rgb, **options)
    _remove([paths[sfx] for sfx in (OVERLAY_SUFFIX, OPENDS_SUFFIX) if sfx not in files])
    written = [atomic_write(paths[sfx], data) for sfx, data in files.items()]
    _remove([paths[ERROR_SUFFIX]])
    return written


def write_error(out_dir: Path, stem: str, doc: ErrorDocument) -> Path:
    """Write ``<stem>.error.json`` and remove a stale result (and its companions)."""
    out_dir = Path(out_dir)
    path = atomic_write(_target(out_dir, stem, ERROR_SUFFIX), to_json(doc))
    _remove([_target(out_dir, stem, sfx) for sfx in RESULT_SUFFIXES])
    return path


# ----------------------------------------------------------------------------- error documents

MAX_MESSAGE_CHARS = 500
_SECRET_ENV = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY|AUTH", re.I)
_REDACTIONS = (
    # scheme://user:password@host -> scheme://***@host. The look-behind lets a scheme start only
    # where a run of scheme characters starts: without it every position of a long run is a new
    # start that scans the rest of the run (quadratic: 14 s for a 40,000-character URL).
    (re.compile(r"(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I), r"\1***@"),
    # signed-URL and credential query parameters
    (re.compile(r"((?:X-Amz-(?:Signature|Credential|Security-Token)|AWSAccessKeyId|Signature|"
                r"access_?key|secret(?:_?key)?|token|password|passwd|pwd|api_?key|sig)=)[^&\s'\"]+", re.I), r"\1***"),
    # "password: xyz", "secret_key = xyz", "Authorization: Bearer xyz"
    (re.compile(r"((?:password|passwd|secret(?:[_ ]?(?:access[_ ]?)?key)?|access[_ ]?key(?:[_ ]?id)?|token|"
                r"authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)[^\s,;'\"}]+", re.I), r"\1***"),
    # AWS-style access key ids
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "***"),
)
_TRACE = re.compile(r"Traceback \(most recent call last\).*", re.S)
_FRAME = re.compile(r'File "[^"]*", line \d+(?:, in \S+)?')


def sanitize_message(message: str) -> str:
    """One line, no traceback, no credentials, at most 500 characters.

    Linear in the length of ``message``: every pattern here can start only at a bounded number of
    places per character and never rescans (tests/test_outputs.py times 1 MB adversarial inputs).
    """
    msg = _TRACE.sub("", str(message))
    msg = _FRAME.sub("", msg)
    for name, value in os.environ.items():
        if value and len(value) >= 6 and _SECRET_ENV.search(name):
            msg = msg.replace(value, "***")
    for rx, repl in _REDACTIONS:
        msg = rx.sub(repl, msg)
    msg = " ".join(msg.split())
    if len(msg) > MAX_MESSAGE_CHARS:
        msg = msg[: MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return msg


def error_document(info: ImageInfo, stage: str, exc: BaseException) -> ErrorDocument:
    """A ``herbmorph/error/1`` document for ``exc`` raised in ``stage``.

    ``kind`` comes from :class:`herbmorph.errors.HerbmorphError` (``internal`` for anything else,
    whose message is prefixed by the exception type). The message is :func:`sanitize_message`'d.
    """
    if isinstance(exc, HerbmorphError):
        kind = str(getattr(exc, "kind", None) or "internal")
        raw = str(exc)
    else:
        kind = "internal"
        text = str(exc)
        raw = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    msg = sanitize_message(raw) or type(exc).__name__
    return ErrorDocument(image=info, stage=str(stage), error=ErrorInfo(kind=kind, message=msg))
