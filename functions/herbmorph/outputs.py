"""Where results land: safe output names, atomic writes, one outcome per input.

For an input named ``S`` (:func:`output_relpath`: the key's path with its extension, e.g.
``sheet.jpg``; injective over keys) an output folder ends up with exactly one of

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


#: a plain name ending like this would make ``<r>`` + ``.json`` equal another ``<r'>`` + one of
#: the longer output suffixes (``x.opends`` + ``.json`` = ``x`` + ``.opends.json``)
_RESERVED_ENDINGS = (".opends", ".error", ".segment", ".scale", ".overlay")
TAG_SEP = "~"  # never kept in a plain name, so a tagged name can never equal a plain one
TAG_HEX = 16  # 64 bits of the key's sha256: no expected collision below billions of keys


def _plain_part(part: str) -> bool:
    """A name kept verbatim: exactly what cleaning would leave, and no tag separator."""
    return (part not in ("", ".", "..") and TAG_SEP not in part and _clean_chars(part) == part
            and "  " not in part and _fit(part, part) == part)


def _tagged(name: str, key: str) -> str:
    tag = TAG_SEP + _key_sha(key)[:TAG_HEX]
    name = _fit(_clean_chars(name).replace(TAG_SEP, "_"), key) if name else ""
    cut = name.encode("utf-8")[: MAX_NAME_BYTES - len(tag)].decode("utf-8", "ignore").rstrip(". ")
    return cut + tag


def _relative_key(key: str, input_prefix: str) -> tuple[str, bool]:
    """``key`` below ``input_prefix`` (matched on whole components), and whether it was below."""
    prefix = str(input_prefix or "").rstrip("/")
    if not prefix:
        return key, True
    if key.startswith(prefix + "/"):
        return key[len(prefix) + 1:], True
    return key, False


def output_relpath(key: str, input_prefix: str = "") -> str:
    """The output path ``<r>`` (no suffix), relative to the output folder, for input ``key``.

    Injective over keys, so two inputs never share an output (the property test generates pairs):

    * a **plain** key (below ``input_prefix``) keeps its whole relative path, extension included:
      ``in/2024/sheet 1.jpg`` -> ``2024/sheet 1.jpg`` (outputs ``2024/sheet 1.jpg.json`` ...).
      Plain means every component is what cleaning leaves (no control or odd characters, no
      leading dot, no ``..``, no ``~``, not too long) and the name does not end in ``.opends``,
      ``.error``, ``.segment``, ``.scale`` or ``.overlay``;
    * any other key gets its cleaned path plus ``~`` and 16 hex digits of the key's sha256:
      ``in/new\nline.jpg`` -> ``newline.jpg~3f0c...``. A plain name never contains ``~``, so the
      two kinds never meet, and the tag tells apart keys that clean to the same text.

    The result is always relative, uses ``/``, and has no ``..``, ``.`` or empty components.
    """
    key = "" if key is None else str(key)
    rel, below = _relative_key(key, input_prefix)
    parts = rel.split("/")
    if below and all(_plain_part(p) for p in parts) and not parts[-1].lower().endswith(_RESERVED_ENDINGS):
        return rel
    dirs = _safe_dir_parts("/".join(parts[:-1]))
    return "/".join([*dirs, _tagged(parts[-1], key)])


def safe_stem(key: str) -> str:
    """The output name for a file (``herbmorph measure``): :func:`output_relpath` of its basename.

    ``sheet.jpg`` -> ``sheet.jpg`` (``sheet.jpg.json``), so ``dup.jpg`` and ``dup.png`` no longer
    share ``dup.json``. Files with the same basename in different folders still meet in one
    ``--out`` folder; the chain and ``herbmorph batch`` mirror folders with :func:`output_relpath`.
    """
    return output_relpath(_basename(key))


def clash_stem(key: str, identity: str) -> str:
    """The output name for a file whose :func:`safe_stem` an earlier input already took: its
    basename tagged with ``identity`` (e.g. its absolute path), as a non-plain key is tagged."""
    return _tagged(_basename(key), identity)


def _basename(key: str | None) -> str:
    return ("" if key is None else str(key)).replace("\\", "/").rsplit("/", 1)[-1]


def is_output_relpath(rel: str) -> bool:
    """Whether ``rel`` is a path :func:`output_relpath` can produce (a stage reads it back from
    an upstream document's key instead of naming it again)."""
    parts = str(rel).split("/")
    if not rel or any(p in ("", ".", "..") for p in parts):
        return False
    *dirs, last = parts
    if not all(_clean_chars(d) == d and d.strip() == d for d in dirs):
        return False
    name, sep, tag = last.rpartition(TAG_SEP)
    if sep and len(tag) == TAG_HEX and all(c in "0123456789abcdef" for c in tag):
        return TAG_SEP not in name and _clean_chars(name) == name
    return _plain_part(last) and not last.lower().endswith(_RESERVED_ENDINGS)


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
