"""Output names are injective over input keys, for every output kind, in every adapter (issue 17:
``dup.jpg``/``dup.png``, ``new\\nline.jpg``/``newline.jpg`` and ``coll.opends.jpg``/``coll.jpg``
each left one document for two inputs)."""
from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from herbmorph.oscar.invocation import STAGE_SUFFIX, stage_relpath
from herbmorph.outputs import (ERROR_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX, RESULT_SUFFIX, is_output_relpath,
                               output_relpath, safe_stem)

#: every name an input's outputs take, at any stage of the chain and in batch
SUFFIXES = (RESULT_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX, ERROR_SUFFIX, *STAGE_SUFFIX.values())

# Pieces chosen to collide under any lossy cleaning: our own suffixes, dots, separators, spaces
# of every kind, control and format characters, look-alike unicode, the tag separator.
PIECES = st.sampled_from([
    ".json", ".opends", ".error", ".overlay", ".png", ".segment", ".scale", ".jpg", ".JPG", ".tif", ".",
    "..", "/", "//", "\\", " ", "  ", "\t", "\n", "\r", "\x00", "\x1b", "\u200b", "\u202e", "\u00a0", "\u3000",
    "~", "~0123456789abcdef", "_", "-", "e\u0301", "\u00e9", "CON", "½", "Ω", "ｆ", "a", "b", "dup", "coll",
    "in", "x" * 120,
])
TEXT = st.lists(PIECES | st.text(min_size=1, max_size=3), min_size=0, max_size=8).map("".join)
KEY = st.one_of(TEXT.map(lambda t: "in/" + t), TEXT)


def _names(key: str) -> set[str]:
    rel = output_relpath(key, "in")
    return {rel + sfx for sfx in SUFFIXES}


@settings(max_examples=3000, deadline=None)
@given(KEY, KEY)
@example("in/dup.jpg", "in/dup.png")
@example("in/new\nline.jpg", "in/newline.jpg")
@example("in/tab\there.jpg", "in/tabhere.jpg")
@example("in/coll.opends.jpg", "in/coll.jpg")
@example("in/x.opends", "in/x")
@example("in/a/../b.jpg", "in/b.jpg")
@example("in/e\u0301.jpg", "in/\u00e9.jpg")
@example("in/a~0123456789abcdef", "in/a\n")
def test_two_distinct_keys_never_share_an_output_name(k1, k2):
    assume(k1 != k2)
    clash = _names(k1) & _names(k2)
    assert not clash, (k1, k2, clash)


@settings(max_examples=1500, deadline=None)
@given(KEY)
def test_every_stage_and_adapter_names_an_input_alike(key):
    """segment names <r>; scale and area read it back from the upstream key (result or error);
    batch uses output_relpath with the same prefix; the name is always a safe relative path."""
    rel = stage_relpath("segment", key, "in")
    assert rel == output_relpath(key, "in") and is_output_relpath(rel)
    parts = rel.split("/")
    assert not any(p in ("", ".", "..") for p in parts) and not rel.startswith("/")
    assert not any(ord(c) < 0x20 or c == "\\" for c in rel)
    for stage, folder in (("scale", "segmented"), ("area", "scaled")):
        upstream = {"scale": ".segment.json", "area": ".scale.json"}[stage]
        for sfx in (upstream, ERROR_SUFFIX):
            assert stage_relpath(stage, f"{folder}/{rel}{sfx}", folder) == rel, (stage, sfx)


@settings(max_examples=1000, deadline=None)
@given(TEXT, TEXT)
def test_measure_names_distinct_basenames_apart(a, b):
    assume("/" not in a + b and "\\" not in a + b and a != b)
    assert safe_stem(a) != safe_stem(b)


def test_plain_keys_keep_their_whole_name():
    """What a reader of the results folder sees for ordinary keys (the documented scheme)."""
    assert output_relpath("in/2024/box 7/Quercus robur – ½.JPG", "in") == "2024/box 7/Quercus robur – ½.JPG"
    assert output_relpath("in/dup.png", "in") == "dup.png"
    assert output_relpath("in/coll.opends.jpg", "in") == "coll.opends.jpg"
    assert output_relpath("in/new\nline.jpg", "in").startswith("newline.jpg~")
