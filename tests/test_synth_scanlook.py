"""The training export's scan texture (synth.scanlook): only the training split gets it, each
sheet its own and the same every time, inside the organs more than on the paper, and the labels
are those of the untextured export."""
from __future__ import annotations

import cv2
import numpy as np

from herbmorph.synth.dataset import export_yolo, generate_dataset
from herbmorph.synth.scanlook import organ_mask, scan_look

LOW = (15.0, 18.0)


def _lapvar(path) -> float:
    return float(cv2.Laplacian(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), cv2.CV_64F).var())


def test_training_images_get_texture_and_keep_their_labels(tmp_path):
    d = tmp_path / "s"
    generate_dataset(d, 2, seed=5, px_per_cm_range=LOW, progress=False)
    plain = export_yolo({"train": d, "val": d}, tmp_path / "plain", max_side=512)
    tex = export_yolo({"train": d, "val": d}, tmp_path / "tex", max_side=512, scan_texture=True)
    again = export_yolo({"train": d}, tmp_path / "again", max_side=512, scan_texture=True, workers=2)  # in processes
    for name in ("sheet-5-00000", "sheet-5-00001"):
        seg = lambda ys, split: ys["segment"].parent / "images" / split / f"{name}.jpg"  # noqa: E731
        lbl = lambda ys, split: (ys["segment"].parent / "labels" / split / f"{name}.txt").read_text()  # noqa: E731
        assert lbl(tex, "train") == lbl(plain, "train") and lbl(tex, "val") == lbl(plain, "val")
        assert seg(tex, "val").read_bytes() == seg(plain, "val").read_bytes()  # validation as drawn
        assert seg(tex, "train").read_bytes() == seg(again, "train").read_bytes()  # drawn from the name
        assert lbl(again, "train") == lbl(tex, "train")
        assert _lapvar(seg(tex, "train")) > 1.3 * _lapvar(seg(plain, "train"))
    a, b = (tex["segment"].parent / "images" / "train" / f"sheet-5-0000{i}.jpg" for i in (0, 1))
    assert a.read_bytes() != b.read_bytes()


def test_organs_are_mottled_more_than_the_paper():
    rng = np.random.default_rng(3)
    img = np.full((200, 200, 3), (200, 220, 230), np.uint8)
    img[50:150, 50:150] = (60, 110, 140)  # a flat brown "leaf"
    gt = {"organs": [{"polygon": [[50, 50], [149, 50], [149, 149], [50, 149]]}]}
    mask = organ_mask(gt, 1.0, 1.0, img.shape[:2])
    assert mask[60:140, 60:140].all() and not mask[:40].any()
    out, quality = scan_look(img, mask, rng)
    assert out.shape == img.shape and out.dtype == np.uint8 and 55 <= quality <= 92
    leaf, paper = out[60:140, 60:140].astype(float), out[5:45, 5:195].astype(float)
    assert leaf.std() > 1.5 * paper.std()
    assert abs(leaf.mean(axis=(0, 1)) - (60, 110, 140)).max() < 10  # texture, not a new colour
