#!/usr/bin/env bash
# Train the organ model on one GPU and bring the result back, in one command that fits one call of
# the project's device machine (an H200 with 16 cores, 15 device-minutes a session start-up
# included, 10 minutes a command, nothing reachable from it).
#
#   bash scripts/device_wheels.sh             # here, first: the Python packages that machine lacks
#   bash scripts/train_gpu.sh                 # there; defaults below: MINUTES=6 N_TRAIN=1600 ...
#
# Steps: install the carried wheels (.whl/, when this Python lacks Ultralytics); draw the sheets
# on every core (herbmorph train would draw them on one core and spend the device's minutes doing
# it; it then finds them in place: same seeds 1/2 and px/cm range as its TrainPlan); train for
# MINUTES, or what BUDGET_S leaves after the drawing; and, where $OUT is set (the device tool's
# folder that comes back, even from a call killed at its limit), copy the weights there at once,
# cut into parts under the tool's 16 MiB a file, with training.json; then time the segment
# function on this device (scripts/bench_segment) in what time is left. The log streams to $OUT.
#
# Default: fine-tune the shipped YOLO11n-seg (INIT_FROM=models) at 1024 px with mask ratio 2 on
# the dried-specimen sheets; its weights stay 6 MB and its CPU time what the README states. From
# scratch instead: INIT_FROM= ARCH=yolo11s-seg (about 20 MB of weights, ~3x the CPU time).
# DEVICE=cpu with small N_TRAIN/IMGSZ/MINUTES runs the same steps here (tests/test_train_gpu.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
DATA=${DATA:-data/train-gpu}
N_TRAIN=${N_TRAIN:-1600}
N_VAL=${N_VAL:-120}
MINUTES=${MINUTES:-6}           # training time box, at most: cut to what BUDGET_S leaves
BUDGET_S=${BUDGET_S:-560}       # the whole command's seconds (the device call is killed at 600)
RESERVE_S=${RESERVE_S:-75}      # kept after drawing for Ultralytics' set-up, final validation and copying
IMGSZ=${IMGSZ:-1024}
ARCH=${ARCH:-yolo11n-seg}
INIT_FROM=${INIT_FROM-models}   # empty: from the architecture file, random init
BATCH=${BATCH:-16}
DEVICE=${DEVICE:-0}
WORKERS=${WORKERS:-$(nproc)}
MODELS=${MODELS:-models}
BENCH=${BENCH:-1}
OUT=${OUT:-}
WHEELS=${WHEELS:-.whl}

log() { echo "train_gpu.sh: $*" >&2; }
t_start=$(date +%s)
elapsed() { echo $(( $(date +%s) - t_start )); }

# The device image has PyTorch but not Ultralytics, pydantic or polars: install what
# scripts/device_wheels.sh put in .whl/ (no index there), ahead of everything on the path.
if ! "$PY" -c "import ultralytics, pydantic" 2>/dev/null; then
  compgen -G "$WHEELS/*.whl" >/dev/null || { log "no Ultralytics here and no $WHEELS/ to install it from (run scripts/device_wheels.sh where pip works)"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/functions${PYTHONPATH:+:$PYTHONPATH}"
export YOLO_OFFLINE=1   # nothing to reach there: no online checks, no analytics, no downloads

# herbmorph train must take the GPU flags (TrainPlan fields device, segment_arch, n_train, n_val,
# data_dir, segment_imgsz, max_side, batch, workers and mask_ratio): say so plainly if it does not.
help=$("$PY" -m herbmorph.cli train --help)
missing=()
for flag in --device --arch --imgsz --max-side --mask-ratio --n-train --n-val --data-dir --batch --workers --init-from; do
  grep -q -- "$flag" <<<"$help" || missing+=("$flag")
done
if ((${#missing[@]})); then
  log "'herbmorph train' lacks ${missing[*]} (TrainPlan needs the matching fields); nothing trained"
  exit 2
fi
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { log "no GPU visible"; exit 2; }
fi

# The whole run's output, also into $OUT as it happens: a call killed at its limit still
# brings back what its files hold.
run_log=${OUT:+$OUT/train_gpu.log}
if [ -n "$OUT" ]; then mkdir -p "$OUT"; fi
exec > >(tee "${run_log:-/dev/null}") 2>&1

t0=$(date +%s)
"$PY" -m herbmorph.synth generate "$DATA/sheets/train" -n "$N_TRAIN" --seed 1 --min-ppc 15 --max-ppc 40 \
  --workers "$WORKERS" --resume --quiet
"$PY" -m herbmorph.synth generate "$DATA/sheets/val" -n "$N_VAL" --seed 2 --min-ppc 15 --max-ppc 40 \
  --workers "$WORKERS" --resume --quiet
echo "sheets drawn in $(( $(date +%s) - t0 )) s"

# Fine-tuning reads INIT_FROM/segment.pt before the new one is written over it: keep a copy.
init_args=()
if [ -n "$INIT_FROM" ]; then
  mkdir -p "$DATA/init" && cp "$INIT_FROM/segment.pt" "$DATA/init/segment.pt"
  [ -f "$INIT_FROM/training.json" ] && cp "$INIT_FROM/training.json" "$DATA/init/training.json"
  init_args=(--init-from "$DATA/init")
fi
# The data loader's workers hand batches over in /dev/shm (50 MB a batch of 16 at 1024 px); a
# container's default 64 MB ends in "bus error". Grow it where we may, else use fewer workers.
train_workers=$WORKERS
shm_free_mb() { df -Pm /dev/shm 2>/dev/null | awk 'NR==2{print $4+0}'; }
if [ -d /dev/shm ] && (( $(shm_free_mb) < 4096 )); then
  mount -o remount,size=16g /dev/shm 2>/dev/null || true
  if (( $(shm_free_mb) < 4096 )); then
    train_workers=$(( $(shm_free_mb) / 1024 )); (( train_workers >= 1 )) || train_workers=0
    log "/dev/shm has $(shm_free_mb) MB free: $train_workers data-loader workers instead of $WORKERS"
  fi
fi

# Training gets what the call has left once the sheets are drawn, less the reserve.
minutes=$(awk -v m="$MINUTES" -v left="$(( BUDGET_S - $(elapsed) - RESERVE_S ))" 'BEGIN{t=left/60; print (t < m ? t : m)}')
if awk -v t="$minutes" 'BEGIN{exit !(t < 0.02)}'; then
  log "only $(( BUDGET_S - $(elapsed) )) s of BUDGET_S left after drawing: nothing trained"
  exit 3
fi
echo "training for $minutes min ($(elapsed) s used of $BUDGET_S)"
t_train=$(date +%s)
# mask_ratio 2: the mask head's targets at imgsz/2 keep 2 px stems that imgsz/4 would erase.
"$PY" -m herbmorph.cli train --tasks segment --device "$DEVICE" --arch "$ARCH" "${init_args[@]}" \
  --imgsz "$IMGSZ" --max-side "$IMGSZ" --mask-ratio 2 --n-train "$N_TRAIN" --n-val "$N_VAL" \
  --data-dir "$DATA" --batch "$BATCH" --workers "$train_workers" \
  --hours-segment "$(awk -v t="$minutes" 'BEGIN{print t/60}')" --models-dir "$MODELS"
echo "export and training took $(( $(date +%s) - t_train )) s"

# The weights first: the bench is worth less than they are.
if [ -n "$OUT" ]; then
  split -b 15M -d -a 1 "$MODELS/segment.pt" "$OUT/segment.pt.part"
  cp "$MODELS/training.json" "$OUT/"
  (cd "$MODELS" && sha256sum segment.pt) > "$OUT/segment.pt.sha256"
fi

left=$(( BUDGET_S - $(elapsed) ))
if [ "$BENCH" = 1 ] && (( left > 20 )); then
  timeout "$left" "$PY" scripts/bench_segment --device "$DEVICE" --weights "$MODELS/segment.pt" \
    --out "$DATA/bench_segment.json" || log "bench_segment failed or ran out of time (the weights are kept)"
  if [ -n "$OUT" ] && [ -f "$DATA/bench_segment.json" ]; then cp "$DATA/bench_segment.json" "$OUT/"; fi
elif [ "$BENCH" = 1 ]; then
  log "no time left for bench_segment ($left s)"
fi
if [ -n "$OUT" ]; then echo "in \$OUT: $(ls "$OUT" | tr '\n' ' ')(join: cat segment.pt.part* > models/segment.pt, then check it against segment.pt.sha256)"; fi
echo "done in $(elapsed) s"
