"""Bring your own weights: classes are mapped to ours by name, never by index."""
from __future__ import annotations

import pytest
from conftest import REPO, SAMPLES

from herbmorph.config import Settings
from herbmorph.errors import ModelError
from herbmorph.imageio import load_image
from herbmorph.segment.classes import organ_class_map
from herbmorph.segment.core import SegmentPredictor

SHIPPED = REPO / "models" / "segment.pt"


def test_names_map_by_name_case_and_synonym():
    m = organ_class_map({0: "Inflorescence", 1: "LEAVES", 2: "ruler", 3: "stem", 4: "Bar code thing", 5: "seeds"})
    assert m == {0: "flower", 1: "leaf", 2: None, 3: "stem", 4: None, 5: "seed"}


def test_a_model_without_organ_classes_is_refused():
    with pytest.raises(ModelError, match="no organ class"):
        organ_class_map({0: "ruler", 1: "label", 2: "barcode"})


def _renamed(tmp_path, names: dict[int, str]):
    """The shipped organ model with its classes renamed (weights untouched)."""
    from ultralytics import YOLO

    m = YOLO(str(SHIPPED))
    m.model.names = names
    out = tmp_path / "renamed.pt"
    m.save(str(out))
    return out


def _organs(weights, rgb):
    p = SegmentPredictor(Settings(segment_weights=weights, conf=0.25)).setup()
    return [(tuple(o.bbox), o.class_) for o in p.predict(rgb).organs]


def test_user_model_with_shuffled_renamed_and_extra_classes(tmp_path):
    """The same network, its classes renamed as a user's export might name them: each
    detection's class follows the *name* at its index, and a 'ruler' class is dropped."""
    rgb = load_image(SAMPLES[0]).rgb
    base = _organs(SHIPPED, rgb)
    assert base, "the shipped model finds organs on the sample"
    shipped = {0: "leaf", 1: "stem", 2: "flower", 3: "fruit", 4: "root", 5: "seed"}
    user = {0: "Fruits", 1: "Leaves", 2: "ruler", 3: "LEAF", 4: "Roots", 5: "seed"}  # index 2 is not an organ
    ours = {"Fruits": "fruit", "Leaves": "leaf", "LEAF": "leaf", "Roots": "root", "seed": "seed"}
    got = _organs(_renamed(tmp_path, user), rgb)
    index_of = {v: k for k, v in shipped.items()}
    want = [(box, ours[user[index_of[cls]]]) for box, cls in base if user[index_of[cls]] in ours]
    assert got == want and len(got) >= 1


def test_pipeline_refuses_a_model_with_no_organ_class(tmp_path):
    weights = _renamed(tmp_path, {i: n for i, n in enumerate(["ruler", "label", "barcode", "stamp", "tape", "coin"])})
    with pytest.raises(ModelError, match="no organ class"):
        SegmentPredictor(Settings(segment_weights=weights)).setup()
