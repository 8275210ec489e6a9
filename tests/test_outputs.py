"""Output naming (no path escapes), atomic writes, one outcome (result xor error) per input."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "functions") not in sys.path:
    sys.path.insert(0, str(REPO / "functions"))

from herbmorph.area import build_document  # noqa: E402
from herbmorph.errors import InputError, ModelError, sanitize_message  # noqa: E402
from herbmorph.outputs import output_relpath, safe_stem  # noqa: E402
from herbmorph.publish import write_error, write_result  # noqa: E402
from herbmorph.store import folder as folder_store  # noqa: E402
from herbmorph.results import (  # noqa: E402
    ErrorDocument,
    ImageInfo,
    ModelInfo,
    Organ,
    ResultDocument,
    ScaleResult,
    SegmentResult,
    error_document,
    from_json,
)

SCHEMA_DIR = REPO.parent / "shared" / "reference" / "opends-0.4"
CREATED = "2024-06-27T12:00:00.000Z"
INFO = ImageInfo(uri="s3://herbarium/in/a/B 100.jpg", sha256="e" * 64, width=300, height=200)


def make_doc(organs=True) -> ResultDocument:
    o = [Organ(id=0, **{"class": "leaf"}, confidence=0.8, bbox=[10, 10, 110, 60],
               polygon=[[10, 10], [110, 10], [110, 60], [10, 60]], area_px=5000.0)] if organs else []
    seg = SegmentResult(organs=o, model=ModelInfo(name="seg", sha256="a" * 64), imgsz=1024, conf=0.5)
    return build_document(INFO, seg, ScaleResult(px_per_cm=50.0, status="ok", method="ticks"), {"segment": 1.0})


RGB = np.full((200, 300, 3), 200, np.uint8)

# ----------------------------------------------------------------------------- names

WEIRD_KEYS = [
    "../../etc/passwd", "a/../../b.jpg", "/etc/passwd", "/abs/dir/x.jpg", "C:\\Windows\\evil.png",
    "with space/My Sheet 01.jpg", "Quercus robur – ½.JPG", "bad\x00name.jpg", "dir\x00/../../x.jpg", ".hidden.jpg",
    "", ".", "..", "/", "...", "a/b/", "\x01\x02.jpg", "x\u202egpj.exe", "con.jpg", "ümlaut/ñandú.tif",
    "a" * 400 + ".jpg", "../" * 20 + "deep.jpg", "s3://bucket/k.jpg",
]


def _matches(name: str, expected: str) -> bool:
    """``expected`` exactly, or, when it ends in ``~``, that text plus 16 hex digits of a tag."""
    if not expected.endswith("~"):
        return name == expected
    tag = name[len(expected):]
    return name.startswith(expected) and len(tag) == 16 and all(c in "0123456789abcdef" for c in tag)


@pytest.mark.parametrize("key,stem", [
    ("../../etc/passwd", "passwd"),
    ("a/../../b.jpg", "b.jpg"),
    ("/abs/dir/x.jpg", "x.jpg"),
    ("C:\\Windows\\evil.png", "evil.png"),
    ("with space/My Sheet 01.jpg", "My Sheet 01.jpg"),
    ("Quercus robur – ½.JPG", "Quercus robur – ½.JPG"),
    ("bad\x00name.jpg", "badname.jpg~"),
    (".hidden.jpg", "hidden.jpg~"),
    ("archive.tar.gz", "archive.tar.gz"),
    ("sheet:1?.jpg", "sheet_1_.jpg~"),
])
def test_safe_stem_examples(key, stem):
    assert _matches(safe_stem(key), stem), safe_stem(key)


@pytest.mark.parametrize("key", ["", ".", "..", "/", "...", "a/b/", "\x00"])
def test_safe_stem_falls_back_to_the_key_hash(key):
    assert _matches(safe_stem(key), "~")
    assert safe_stem("..") != safe_stem("")


@pytest.mark.parametrize("key", WEIRD_KEYS)
def test_names_never_escape(key, tmp_path):
    stem = safe_stem(key)
    rel = output_relpath(key, "in")
    for name in (stem, *rel.split("/")):
        assert name and name not in (".", "..") and not name.startswith(".")
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert all(ord(c) >= 32 and c != "\u202e" for c in name)
        assert len((name + ".overlay.png").encode()) <= 255
    assert not rel.startswith("/")
    target = (tmp_path / (rel + ".json")).resolve()
    assert tmp_path.resolve() in target.parents


@pytest.mark.parametrize("key,prefix,rel", [
    ("in/a/b/x.jpg", "in", "a/b/x.jpg"),
    ("in/a/b/x.jpg", "in/", "a/b/x.jpg"),
    ("input/x.jpg", "in", "input/x.jpg~"),  # prefixes match whole folders only
    ("../../etc/passwd", "", "etc/passwd~"),
    ("a/../../b.jpg", "", "b.jpg~"),
    ("a/./b/../c.jpg", "", "a/c.jpg~"),
    ("/data/in/2024/x.jpg", "/data/in", "2024/x.jpg"),
    ("/etc/passwd", "", "etc/passwd~"),
    (".git/hooks/x.jpg", "", "git/hooks/x.jpg~"),
    ("Herbier – ½/Quercus robur – ½.JPG", "", "Herbier – ½/Quercus robur – ½.JPG"),
    ("x.jpg", "", "x.jpg"),
])
def test_output_relpath(key, prefix, rel):
    assert _matches(output_relpath(key, prefix), rel), output_relpath(key, prefix)


def test_same_basename_in_two_folders():
    assert safe_stem("a/x.jpg") == safe_stem("b/x.jpg")
    assert output_relpath("a/x.jpg") != output_relpath("b/x.jpg")


# ----------------------------------------------------------------------------- writing

def _names(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}


def test_write_result_files(tmp_path):
    doc = make_doc()
    paths = write_result(tmp_path, "B 100", doc, RGB, created=CREATED)
    assert [p.name for p in paths] == ["B 100.overlay.png", "B 100.opends.json", "B 100.json"]
    assert _names(tmp_path) == {"B 100.json", "B 100.opends.json", "B 100.overlay.png"}  # no tmp files
    assert from_json((tmp_path / "B 100.json").read_text(encoding="utf-8")) == doc
    assert (tmp_path / "B 100.overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    event = json.loads((tmp_path / "B 100.opends.json").read_text(encoding="utf-8"))
    assert event["jobId"] == "urn:herbmorph:" + "e" * 64
    assert len(event["annotations"]) == 1 and event["annotations"][0]["dcterms:created"] == CREATED
    if SCHEMA_DIR.is_dir():
        from herbmorph.area.opends_schema import validate_event

        validate_event(event, SCHEMA_DIR)
    # deterministic: a rerun gives byte-identical files (timings are fixed in the doc)
    before = {p: (tmp_path / p).read_bytes() for p in _names(tmp_path)}
    write_result(tmp_path, "B 100", doc, RGB, created=CREATED)
    assert {p: (tmp_path / p).read_bytes() for p in _names(tmp_path)} == before


def test_write_result_without_companions_removes_stale_ones(tmp_path):
    write_result(tmp_path, "s", make_doc(), RGB, created=CREATED)
    write_result(tmp_path, "s", make_doc(organs=False), None, opends=False, overlay=True)
    assert _names(tmp_path) == {"s.json"}


def test_write_result_into_mirrored_folder(tmp_path):
    rel = output_relpath("in/2024/box 8/sheet.jpg", "in")
    assert rel == "2024/box 8/sheet.jpg"
    write_result(tmp_path, rel, make_doc(), None, opends=False)
    assert _names(tmp_path) == {"2024/box 8/sheet.jpg.json"}
    for bad in ("../x", "/abs", "a/../b", "", "a//b", "a\\b"):
        with pytest.raises(ValueError):
            write_result(tmp_path, bad, make_doc(), None)


def test_result_and_error_replace_each_other(tmp_path):
    err = error_document(INFO, "segment", InputError("not an image"))
    write_error(tmp_path, "s", err)
    assert _names(tmp_path) == {"s.error.json"}
    write_result(tmp_path, "s", make_doc(), RGB, created=CREATED)
    assert _names(tmp_path) == {"s.json", "s.opends.json", "s.overlay.png"}
    p = write_error(tmp_path, "s", err)
    assert _names(tmp_path) == {"s.error.json"}
    back = from_json(p.read_text(encoding="utf-8"))
    assert isinstance(back, ErrorDocument) and back == err


def test_atomic_write_failure_keeps_old_file_and_leaves_no_tmp(tmp_path, monkeypatch):
    write_result(tmp_path, "s", make_doc(), None, opends=False, overlay=False)
    old = (tmp_path / "s.json").read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(folder_store.os, "replace", boom)
    with pytest.raises(OSError):
        write_result(tmp_path, "s", make_doc(organs=False), None, opends=False, overlay=False)
    monkeypatch.undo()
    assert _names(tmp_path) == {"s.json"}
    assert (tmp_path / "s.json").read_bytes() == old


def test_failed_overlay_writes_nothing_new(tmp_path):
    write_error(tmp_path, "s", error_document(INFO, "scale", ValueError("x")))
    with pytest.raises(ValueError):
        write_result(tmp_path, "s", make_doc(), np.zeros((5,)), created=CREATED)  # not an image
    assert _names(tmp_path) == {"s.error.json"}


# ----------------------------------------------------------------------------- error documents

def test_error_document_kinds():
    assert error_document(INFO, "segment", InputError("truncated JPEG")).error.kind == "bad-input"
    assert error_document(INFO, "segment", ModelError("weights missing")).error.kind == "model"
    d = error_document(INFO, "area", KeyError("organs"))
    assert d.error.kind == "internal" and d.error.message == "KeyError: 'organs'"
    assert d.stage == "area" and d.image == INFO and d.schema_ == "herbmorph/error/1"
    assert error_document(INFO, "area", RuntimeError()).error.message == "RuntimeError"


def test_error_message_has_no_traceback_or_credentials(monkeypatch):
    monkeypatch.setenv("MINIO_SECRET_KEY", "sUp3r-s3cr3t-value")
    msg = (
        "GET https://minio:minio123@s3.local/b/k.jpg?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2024&"
        "X-Amz-Signature=deadbeef failed; password=hunter2 secret_key: sUp3r-s3cr3t-value key AKIAIOSFODNN7EXAMPLE\n"
        "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in <module>\n    boom()\nValueError: x"
    )
    try:
        raise ConnectionError(msg)
    except ConnectionError as e:
        m = error_document(INFO, "scale", e).error.message
    for leak in ("minio123", "deadbeef", "hunter2", "sUp3r-s3cr3t-value", "AKIAIOSFODNN7EXAMPLE", "Traceback",
                 "File \"", "\n"):
        assert leak not in m, m
    assert m.startswith("ConnectionError: GET https://***@s3.local/b/k.jpg")
    long = error_document(INFO, "scale", InputError("x" * 5000)).error.message
    assert len(long) <= 500


@pytest.mark.parametrize("shape", [
    "a", "http://" + "a", "a.b-c+", "a://", "://", "token" + " ", "password = '", "File \"", "@", "x-amz-signature=",
    "authorization: bearer ", "AKIA",
])
def test_sanitize_message_is_linear_on_adversarial_input(shape):
    """Issue 17: the user:password pattern rescanned every run of scheme characters from each of
    its positions (a 40,000-character URL took 13.9 s). A megabyte of each shape must take well
    under a second; the quadratic version needed minutes for one."""
    text = shape * ((1 << 20) // len(shape))
    t0 = time.perf_counter()
    out = sanitize_message(text)
    assert time.perf_counter() - t0 < 1.0, shape
    assert len(out) <= 500
