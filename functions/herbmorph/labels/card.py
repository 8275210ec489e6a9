"""The model card section of a fine-tuned organ model, from its training record (training.json):
what it was trained on, how the classes were read, how it did on its validation images, and
what that number does and does not say."""
from __future__ import annotations

from pathlib import Path

from ..results import ORGAN_CLASSES


def _n(v) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def render(r: dict) -> str:
    labels, cls, imgs, run, plan = r["labels"], r["classes"], r["images"], r["run"], r["plan"]
    val = r["validation"]
    w = r["weights"]
    by_ours: dict[str, list[str]] = {}
    for theirs, ours in cls["mapping"].items():
        by_ours.setdefault(ours, []).append(theirs)
    lines = [
        f"## Fine-tuned organ model: `{Path(w['path']).name}` ({r['created'][:10]})",
        "",
        f"Fine-tuned by `herbmorph train --labels` from `{r['init']['weights']}` "
        f"(sha256 `{r['init']['sha256'][:12]}…`) on the labels in `{Path(labels['source']).name}` "
        f"({labels['format']}, sha256 `{labels['sha256'][:12]}…`).",
        "",
        f"- weights: `{w['path']}` ({w['bytes'] / 1e6:.1f} MB, sha256 `{w['sha256'][:12]}…`);",
        f"- confidence calibration: {r.get('calibration') or 'none'};",
        f"- images: {imgs['train']} for training, {imgs['val']} for validation ({imgs['split']});"
        + (f" {imgs['left_out_without_organs']} without an organ label left out;" if imgs["left_out_without_organs"]
           else ""),
        f"- training: {run['epochs_done']} epoch(s) at imgsz {plan['imgsz']}, batch {plan['batch']}, on "
        f"{run['device']}, {run['wall_s'] / 60:.1f} min (Ultralytics {run['ultralytics']}); kept `{run['kept']}`.",
        "",
        "| our class | your classes | train instances | val instances | val mAP50 (box) | val mAP50 (mask) |",
        "|---|---|---|---|---|---|",
    ]
    per = r.get("validation_per_class", {})
    for organ in ORGAN_CLASSES:
        theirs = ", ".join(f"`{t}`" for t in by_ours.get(organ, [])) or "none"
        p = per.get(organ, {})
        lines.append(f"| {organ} | {theirs} | {r['instances'].get('train', {}).get(organ, 0)} | "
                     f"{r['instances'].get('val', {}).get(organ, 0)} | {_n(p.get('box_map50'))} | "
                     f"{_n(p.get('mask_map50'))} |")
    lines += ["",
              f"All classes on the validation images: mAP50 {_n(val.get('metrics/mAP50(B)'))} (box), "
              f"{_n(val.get('metrics/mAP50(M)'))} (mask); mAP50-95 {_n(val.get('metrics/mAP50-95(M)'))} (mask).",
              ""]
    dropped = []
    if cls["non_organ_dropped"]:
        dropped.append("not organs: " + ", ".join(f"`{c}`" for c in cls["non_organ_dropped"]))
    if cls["unknown_dropped"]:
        dropped.append("names we do not know: " + ", ".join(f"`{c}`" for c in cls["unknown_dropped"]))
    dropped += [f"{n} annotation(s): {why}" for why, n in r["annotations_dropped"].items()]
    if dropped:
        lines += ["Left out of training:", *[f"- {d};" for d in dropped[:-1]], f"- {dropped[-1]}.", ""]
    for note in r.get("notes", []):
        lines.append(f"Note: {note}.")
    lines += [
        "",
        "Classes with no training instances are not taught by these labels: what the model finds of them "
        "comes from the starting model, and sheets where they were left unlabelled teach it that they are "
        "background. The validation "
        f"figures come from {imgs['val']} of your own sheets, labelled like the training ones: check the model "
        "on sheets from outside the export (for example `herbmorph evaluate DIR --plant-masks MASKS`) before "
        "relying on it. The ruler model is not changed.",
        "",
        f"Use it with `HERBMORPH_SEGMENT_WEIGHTS={w['path']}`; the full record is in `training.json` beside it.",
        "",
    ]
    return "\n".join(lines)
