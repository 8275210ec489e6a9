"""A herbarium's own labels → a fine-tuned organ model (``herbmorph train --labels``).

- :mod:`.source`: the common shape every label format is read into; :mod:`.read`: :func:`read_labels`;
- :mod:`.coco`: COCO instance-segmentation JSON (CVAT, Label Studio), polygons and RLE;
- :mod:`.yoloseg`: an Ultralytics YOLO-seg folder (``data.yaml`` + ``images/`` + ``labels/``);
- :mod:`.dataset`: class names mapped to ours, checks, the deterministic split, the Ultralytics dataset;
- :mod:`.finetune`: fine-tuning from the shipped weights, ``training.json``;
- :mod:`.card`: the model card section; :mod:`.cli`: the ``herbmorph train --labels`` flags.
"""
