"""What results are called: safe, injective output names and the outcome suffixes.

For an input named ``S`` (:func:`output_relpath`: the key's path with its extension, e.g.
``sheet.jpg``; injective over keys) an output folder ends up with exactly one of

- ``S.json`` (``herbmorph/result/1``), plus ``S.opends.json`` and ``S.overlay.png`` when asked for;
- ``S.error.json`` (``herbmorph/error/1``).

Writing them is :mod:`herbmorph.publish`'s job. Imports no torch (the area container has none).
"""
from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata

RESULT_SUFFIX = ".json"
OPENDS_SUFFIX = ".opends.json"
OVERLAY_SUFFIX = ".overlay.png"
ERROR_SUFFIX = ".error.json"
RESULT_SUFFIXES = (RESULT_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX)
OUTCOME_SUFFIXES = (ERROR_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX, RESULT_SUFFIX)  # longest match first

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


def split_outcome(name: str) -> tuple[str, str] | None:
    """``a/b.error.json`` -> ``("a/b", ".error.json")``; None for anything else."""
    for sfx in OUTCOME_SUFFIXES:
        if name.endswith(sfx) and len(name) > len(sfx):
            return name[: -len(sfx)], sfx
    return None


def check_stem(stem: str) -> str:
    """``stem`` when it is a safe relative output path (see :func:`output_relpath`), else ValueError."""
    s = str(stem)
    parts = s.split("/")
    if not s or s.startswith("/") or "\\" in s or "\x00" in s or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe output stem {stem!r}: use safe_stem() or output_relpath()")
    return s
