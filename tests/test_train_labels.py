"""Reading a herbarium's own labels (COCO from CVAT / Label Studio, YOLO-seg folders) into an
Ultralytics dataset of our classes: the mapping by name, the split, and clear errors for label
files that cannot be trained on. No training here (see test_train_labels_e2e.py)."""
from __future__ import annotations

import json
import logging
import shutil

import cv2
import numpy as np
import pytest
from tinysheets import draw_sheets, write_coco, write_yolo_seg

from herbmorph.cli import main as cli_main
from herbmorph.labels.dataset import prepare
from herbmorph.labels.read import read_labels
from herbmorph.labels.source import LabelError
from herbmorph.results import ORGAN_CLASSES

NAMES = {"leaf": "Leaves", "stem": "Stalk", "fruit": "Fruits", "ruler": "ruler", "damage": "Insect damage"}
IDS = {"Fruits": 4, "ruler": 1, "Insect damage": 9, "Stalk": 2, "Leaves": 7}  # another order, two extra classes


@pytest.fixture()
def coco(tmp_path):
    sheets = draw_sheets(6, seed=3)
    return write_coco(tmp_path / "export", sheets, NAMES, IDS), sheets


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def _label_lines(folder, split):
    return {p.name: p.read_text().split("\n")[:-1] for p in sorted((folder / "labels" / split).glob("*.txt"))}


def _mask(line: str, w: int, h: int) -> tuple[int, np.ndarray]:
    v = line.split()
    pts = (np.asarray(v[1:], dtype=float).reshape(-1, 2) * (w, h)).round().astype(np.int32)
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [pts], 1)
    return int(v[0]), m


def test_coco_classes_map_by_name_and_the_rest_is_left_out_with_a_warning(coco, tmp_path, caplog):
    json_path, sheets = coco
    with caplog.at_level(logging.WARNING, logger="herbmorph.labels.dataset"):
        p = prepare(read_labels(json_path), tmp_path / "ds")
    assert "'Insect damage'" in caplog.text and "ruler" not in caplog.text  # a ruler is known, not unknown
    assert p.mapping == {"Leaves": "leaf", "Stalk": "stem", "Fruits": "fruit"}
    assert p.non_organs == ["ruler"] and p.unknown == ["Insect damage"]
    assert p.dropped == {"class 'ruler' (not an organ)": 6, "class 'Insect damage' (unknown)": 6}
    # every drawn organ is there once, under our index for its kind, with its own outline
    lines = {**_label_lines(tmp_path / "ds", "train"), **_label_lines(tmp_path / "ds", "val")}
    assert len(lines) == 6
    for sheet in sheets:
        (name, rows), = [(n, r) for n, r in lines.items() if n.endswith(sheet.name.replace(".jpg", ".txt"))]
        drawn = [(k, poly) for k, poly in sheet.shapes if k in ("leaf", "stem", "fruit")]
        assert len(rows) == len(drawn)
        for row, (kind, poly) in zip(rows, drawn):
            v = row.split()
            assert ORGAN_CLASSES[int(v[0])] == kind
            pts = np.asarray(v[1:], dtype=float).reshape(-1, 2) * sheet.image.size
            assert np.allclose(pts, poly, atol=0.01)
    data = (tmp_path / "ds" / "data.yaml").read_text()
    assert "0: leaf" in data and "5: seed" in data


def test_split_is_deterministic_and_independent_of_order(coco, tmp_path):
    json_path, _ = coco
    a = prepare(read_labels(json_path), tmp_path / "a", val_fraction=0.34)
    _edit(json_path, lambda d: d["images"].reverse())
    b = prepare(read_labels(json_path), tmp_path / "b", val_fraction=0.34)
    assert a.images == b.images and len(a.images["val"]) == 2 and len(a.images["train"]) == 4
    assert not set(a.images["val"]) & set(a.images["train"])
    assert all((tmp_path / "a" / "images" / "val").iterdir())


def test_images_without_organ_labels_and_box_only_annotations_are_left_out(coco, tmp_path):
    json_path, _ = coco

    def strip(d):
        d["annotations"] = [a for a in d["annotations"] if a["image_id"] != 1 or a["category_id"] == 1]  # ruler only
        leaves = [a for a in d["annotations"] if a["category_id"] == IDS["Leaves"]]
        leaves[-1]["segmentation"] = []  # a box drawn instead of a polygon
    _edit(json_path, strip)
    p = prepare(read_labels(json_path), tmp_path / "ds")
    assert p.left_out == ["sheet_003.jpg"]
    assert p.dropped["box only, no polygon or mask"] == 1
    assert sum(len(v) for v in p.images.values()) == 5


def test_missing_images_are_named(coco, tmp_path):
    json_path, _ = coco
    (json_path.parent / "images" / "sheet_005.jpg").unlink()
    with pytest.raises(LabelError, match=r"1 labelled image\(s\) not found .*--images DIR.*sheet_005.jpg"):
        prepare(read_labels(json_path), tmp_path / "ds")
    # found again where --images says
    moved = tmp_path / "elsewhere"
    shutil.copytree(json_path.parent / "images", moved)
    draw_sheets(1, seed=5)[0].image.save(moved / "sheet_005.jpg", quality=95)
    assert len(prepare(read_labels(json_path, images_dir=moved), tmp_path / "ds").images["train"]) == 5


def test_cvat_layout_finds_images_under_images_subset(tmp_path):
    sheets = draw_sheets(3, seed=1)
    json_path = write_coco(tmp_path / "cvat", sheets, NAMES, IDS, images_subdir="images/default")
    ann = tmp_path / "cvat" / "annotations"
    ann.mkdir()
    json_path = json_path.rename(ann / "instances_default.json")
    p = prepare(read_labels(json_path), tmp_path / "ds")
    assert len(p.images["train"]) + len(p.images["val"]) == 3


def test_polygons_outside_the_image_are_refused(coco, tmp_path):
    json_path, _ = coco

    def push(d):
        d["annotations"][3]["segmentation"][0][0] = 400.0  # x on a 256-wide sheet
    _edit(json_path, push)
    with pytest.raises(LabelError, match=r"1 annotation\(s\) reach outside.*annotation 4 .*on a 256×320 image"):
        read_labels(json_path)


def test_a_vertex_a_pixel_past_the_edge_is_clipped(coco, tmp_path):
    json_path, _ = coco
    _edit(json_path, lambda d: d["annotations"][3]["segmentation"][0].__setitem__(0, 257.0))
    prepare(read_labels(json_path), tmp_path / "ds")


def test_image_size_that_differs_from_the_labels_is_refused(coco, tmp_path):
    json_path, _ = coco
    _edit(json_path, lambda d: d["images"][0].update(width=512, height=640))
    with pytest.raises(LabelError, match=r"sheet_003.jpg is 256×320 but the labels say 512×640"):
        prepare(read_labels(json_path), tmp_path / "ds")


def test_no_class_that_maps_to_ours_is_refused(tmp_path):
    sheets = draw_sheets(3)
    json_path = write_coco(tmp_path / "x", sheets, {"ruler": "Scale bar", "leaf": "Specimen"},
                           {"Specimen": 1, "Scale bar": 2})
    with pytest.raises(LabelError, match=r"none of the classes.*\['Scale bar', 'Specimen'\].*leaf, stem"):
        prepare(read_labels(json_path), tmp_path / "ds")


@pytest.mark.parametrize("bad, message", [
    ("[1, 2", "cannot read .* as JSON"),
    ('{"images": []}', "not a COCO instance-segmentation file"),
    ('{"images": [], "categories": [], "annotations": []}', "lists no categories"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1, "name": '
     '"leaf"}], "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]}]}',
     "refers to image id 2"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1, "name": '
     '"leaf"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[0, 0, 5, 0, 5, 5]]}]}',
     "category id 3, which is not among"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1, "name": '
     '"leaf"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5]]}]}',
     "flat list of x, y numbers"),
])
def test_malformed_coco_files_get_clear_errors(tmp_path, bad, message):
    p = tmp_path / "bad.json"
    p.write_text(bad)
    with pytest.raises(LabelError, match=message):
        read_labels(p)


def _rle_coco(tmp_path, compressed: bool, iscrowd: int):
    """One CVAT-style mask annotation (RLE) per sheet, plus its polygons for everything else."""
    from pycocotools import mask as mask_utils

    sheets = draw_sheets(3, seed=7)
    json_path = write_coco(tmp_path / "rle", sheets, {"stem": "stem", "fruit": "fruit"}, {"stem": 1, "fruit": 2})
    data = json.loads(json_path.read_text())
    data["categories"].append({"id": 3, "name": "leaf"})
    masks = {}
    for i, s in enumerate(sheets, start=1):
        w, h = s.image.size
        m = np.zeros((h, w), np.uint8)
        poly = [p for k, p in s.shapes if k == "leaf"][0]
        cv2.fillPoly(m, [np.asarray(poly).round().astype(np.int32)], 1)
        masks[s.name] = m
        if compressed:
            rle = mask_utils.encode(np.asfortranarray(m))
            seg = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
        else:  # column-major run lengths, starting with background
            flat = m.flatten(order="F")
            changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
            seg = {"size": [h, w], "counts": np.diff(np.concatenate([[0], changes])).tolist()}
        data["annotations"].append({"id": 1000 + i, "image_id": i, "category_id": 3, "segmentation": seg,
                                    "iscrowd": iscrowd, "bbox": [0, 0, 1, 1], "area": int(m.sum())})
    json_path.write_text(json.dumps(data))
    return json_path, sheets, masks


@pytest.mark.parametrize("compressed", [True, False])
def test_rle_masks_become_polygons(tmp_path, compressed):
    json_path, sheets, masks = _rle_coco(tmp_path, compressed, iscrowd=1)
    ls = read_labels(json_path)
    assert any("crowd region" in n for n in ls.notes)
    p = prepare(ls, tmp_path / "ds")
    lines = {**_label_lines(tmp_path / "ds", "train"), **_label_lines(tmp_path / "ds", "val")}
    for s in sheets:
        rows = next(r for n, r in lines.items() if n.endswith(s.name.replace(".jpg", ".txt")))
        leaf_rows = [r for r in rows if r.startswith("0 ")]
        assert len(leaf_rows) == 1
        _, got = _mask(leaf_rows[0], *s.image.size)
        want = masks[s.name]
        assert (got & want).sum() / (got | want).sum() > 0.9
    assert p.instances["train"]["leaf"] + p.instances["val"]["leaf"] == 3


def test_crowd_regions_can_be_left_out(tmp_path):
    json_path, _, _ = _rle_coco(tmp_path, True, iscrowd=1)
    p = prepare(read_labels(json_path, skip_crowd=True), tmp_path / "ds")
    assert p.dropped["crowd region (--skip-crowd)"] == 3
    assert "leaf" not in p.instances["train"] + p.instances["val"]


def test_rle_of_another_size_is_refused(tmp_path):
    json_path, _, _ = _rle_coco(tmp_path, True, iscrowd=0)
    _edit(json_path, lambda d: d["annotations"][-1]["segmentation"].update(size=[10, 10]))
    with pytest.raises(LabelError, match=r"RLE mask is \[10, 10\] .* the image is \[320, 256\]"):
        read_labels(json_path)


def test_an_instance_in_parts_is_one_label_line(coco, tmp_path):
    json_path, sheets = coco

    def split_leaf(d):
        a = next(a for a in d["annotations"] if a["category_id"] == IDS["Leaves"])
        a["segmentation"].append([10, 10, 30, 10, 30, 30, 10, 30])
    _edit(json_path, split_leaf)
    prepare(read_labels(json_path), tmp_path / "ds")
    lines = {**_label_lines(tmp_path / "ds", "train"), **_label_lines(tmp_path / "ds", "val")}
    rows = next(r for n, r in lines.items() if n.endswith("sheet_003.txt"))
    assert len(rows) == len([k for k, _ in sheets[0].shapes if k in ("leaf", "stem", "fruit")])
    _, got = _mask(next(r for r in rows if r.startswith("0 ")), 256, 320)
    assert got[15:25, 15:25].all(), "the second part of the leaf is in its one outline"


def test_yolo_seg_folder_is_remapped_and_keeps_its_split(tmp_path):
    sheets = draw_sheets(5, seed=20)
    names = {0: "Fruits", 1: "Leaves", 2: "ruler", 3: "Stalks", 4: "Insect damage"}
    kinds = {"Fruits": "fruit", "Leaves": "leaf", "ruler": "ruler", "Stalks": "stem", "Insect damage": "damage"}
    data = write_yolo_seg(tmp_path / "yolo", {"train": sheets[:4], "val": sheets[4:]}, names, kinds)
    p = prepare(read_labels(data.parent), tmp_path / "ds")
    assert p.split == "as the label folder splits it" and p.images["val"] == ["images/val/sheet_024.jpg"]
    assert p.mapping == {"Fruits": "fruit", "Leaves": "leaf", "Stalks": "stem"}
    rows = _label_lines(tmp_path / "ds", "val")["00000_sheet_024.txt"]
    drawn = [k for k, _ in sheets[4].shapes if k in ("leaf", "stem", "fruit")]
    assert [ORGAN_CLASSES[int(r.split()[0])] for r in rows] == drawn


def test_label_studio_yolo_layout_with_classes_txt(tmp_path):
    """Label Studio's YOLO export: classes.txt, flat images/ and labels/, no data.yaml."""
    sheets = draw_sheets(3, seed=30)
    root = tmp_path / "ls"
    write_yolo_seg(root, {"all": sheets}, {0: "ruler", 1: "Leaves"}, {"ruler": "ruler", "Leaves": "leaf"})
    for sub in ("images", "labels"):
        for f in (root / sub / "all").iterdir():
            f.rename(root / sub / f.name)
        (root / sub / "all").rmdir()
    (root / "data.yaml").unlink()
    (root / "classes.txt").write_text("ruler\nLeaves\n")
    p = prepare(read_labels(root), tmp_path / "ds")
    assert p.mapping == {"Leaves": "leaf"} and p.non_organs == ["ruler"]
    assert len(p.images["train"]) == 2 and len(p.images["val"]) == 1
    assert p.instances["train"]["leaf"] + p.instances["val"]["leaf"] == sum(
        k == "leaf" for s in sheets for k, _ in s.shapes)


def test_yolo_seg_errors(tmp_path):
    sheets = draw_sheets(2)
    data = write_yolo_seg(tmp_path / "y", {"train": sheets}, {0: "leaf"}, {"leaf": "leaf"})
    label = tmp_path / "y" / "labels" / "train" / "sheet_000.txt"
    label.write_text("3 0.1 0.1 0.2 0.1 0.2 0.2\n")
    with pytest.raises(LabelError, match=r"sheet_000.txt:1: class 3 is not in data.yaml's names"):
        read_labels(data)
    label.write_text("0 0.1 0.1 1.4 0.1 0.2 0.2\n")
    with pytest.raises(LabelError, match=r"reach outside.*sheet_000.txt:1 \('leaf'\)"):
        read_labels(data)
    with pytest.raises(LabelError, match="no data.yaml"):
        read_labels(tmp_path / "y" / "images")


def test_cli_refuses_bad_labels_with_one_line(tmp_path, capsys):
    sheets = draw_sheets(2)
    json_path = write_coco(tmp_path / "x", sheets, {"ruler": "ruler"}, {"ruler": 1})
    rc = cli_main(["train", "--labels", str(json_path), "--models-dir", str(tmp_path / "m")])
    assert rc == 2
    assert "herbmorph train --labels: none of the classes of annotations.json is an organ class" in capsys.readouterr().err
    assert cli_main(["train", "--labels", str(json_path)]) == 2
    assert "needs --models-dir" in capsys.readouterr().err
    assert cli_main(["train", "--labels", str(json_path), "--models-dir", "m", "--hours-segment", "2"]) == 2
    assert "time-box this one with --hours" in capsys.readouterr().err
    (tmp_path / "export.zip").write_bytes(b"PK")
    assert cli_main(["train", "--labels", str(tmp_path / "export.zip"), "--models-dir", str(tmp_path / "m")]) == 2
    assert "is an archive: unzip the export" in capsys.readouterr().err
    from herbmorph.config import REPO_DIR

    assert cli_main(["train", "--labels", str(json_path), "--models-dir", str(REPO_DIR / "models")]) == 2
    assert "holds the shipped weights" in capsys.readouterr().err
