#!/usr/bin/env bash
# Train the organ model on one GPU (the project's device sessions lend an H200 with 16 cores for
# about 15 minutes, start-up included): YOLO11s-seg at 1024 px, where a 1 mm stem on a 42 cm sheet
# is still 2–3 px wide, on more synthetic sheets than the CPU run can afford.
#
#   bash scripts/train_gpu.sh                 # defaults below; MINUTES=8 N_TRAIN=1600 ...
#
# The sheets are drawn first, on every core (herbmorph train would draw them on one core and
# spend the device's minutes doing it); `herbmorph train` then finds them in place (same seeds 1/2
# and px/cm range as its TrainPlan) and only exports and trains. The result replaces
# models/segment.pt and models/training.json, like scripts/train.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD/functions${PYTHONPATH:+:$PYTHONPATH}"
DATA=${DATA:-data/train-gpu}
N_TRAIN=${N_TRAIN:-1600}
N_VAL=${N_VAL:-120}
MINUTES=${MINUTES:-8}           # training time box; sheet drawing (~1 min on 16 cores) comes first
IMGSZ=${IMGSZ:-1024}
ARCH=${ARCH:-yolo11s-seg}
BATCH=${BATCH:-16}
DEVICE=${DEVICE:-0}
WORKERS=${WORKERS:-$(nproc)}
MODELS=${MODELS:-models}

# herbmorph train must take the GPU flags (TrainPlan fields device, segment_arch, n_train, n_val,
# data_dir, segment_imgsz, max_side, batch, workers and mask_ratio): say so plainly if it does not.
help=$("$PY" -m herbmorph.cli train --help)
missing=()
for flag in --device --arch --imgsz --max-side --mask-ratio --n-train --n-val --data-dir --batch --workers; do
  grep -q -- "$flag" <<<"$help" || missing+=("$flag")
done
if ((${#missing[@]})); then
  echo "train_gpu.sh: 'herbmorph train' lacks ${missing[*]} (TrainPlan needs the matching fields); nothing trained" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "train_gpu.sh: no GPU visible" >&2; exit 2; }

t0=$(date +%s)
"$PY" -m herbmorph.synth generate "$DATA/sheets/train" -n "$N_TRAIN" --seed 1 --min-ppc 15 --max-ppc 40 \
  --workers "$WORKERS" --resume --quiet
"$PY" -m herbmorph.synth generate "$DATA/sheets/val" -n "$N_VAL" --seed 2 --min-ppc 15 --max-ppc 40 \
  --workers "$WORKERS" --resume --quiet
echo "sheets drawn in $(( $(date +%s) - t0 )) s"

# mask_ratio 2: the mask head's targets at imgsz/2 keep 2 px stems that imgsz/4 would erase.
exec "$PY" -m herbmorph.cli train --tasks segment --device "$DEVICE" --arch "$ARCH" \
  --imgsz "$IMGSZ" --max-side "$IMGSZ" --mask-ratio 2 --n-train "$N_TRAIN" --n-val "$N_VAL" \
  --data-dir "$DATA" --batch "$BATCH" --workers "$WORKERS" \
  --hours-segment "$(awk "BEGIN{print $MINUTES/60}")" --models-dir "$MODELS"
