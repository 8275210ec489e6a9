#!/usr/bin/env bash
# The Python packages the device machine's image lacks, as wheels for its Python (3.12, x86-64),
# in .whl/ (git-ignored), for scripts/train_gpu.sh to install there: nothing can be fetched on
# that machine, and only the working tree and the paths named in `carry` travel (64 MiB in all).
#
#   bash scripts/device_wheels.sh       # then: run(command="bash scripts/train_gpu.sh", carry=[".whl"])
#
# Its image has PyTorch, torchvision, OpenCV (headless), NumPy, SciPy, matplotlib, PyYAML, rich,
# requests and psutil (the device tool's KINDS.md lists them); the organ training and
# scripts/bench_segment also import Ultralytics (and ultralytics-thop), pydantic (and its core,
# annotated-types, typing-inspection, a newer typing_extensions) and polars, which Ultralytics
# reads its results.csv with when it saves a checkpoint. Versions are this machine's .venv's, so
# there runs what the tests ran here; polars is the one exception: 0.20 (29 MB, the oldest
# Ultralytics allows) instead of 2.x (55 MB), which would not fit beside the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEST=${DEST:-.whl}
LIMIT_MB=${LIMIT_MB:-60}   # the device tool's 64 MiB, less a margin

version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
specs=()
for dist in ultralytics ultralytics-thop pydantic pydantic-core annotated-types typing-inspection typing-extensions; do
  specs+=("$dist==$(version "$dist")")
done
specs+=("polars==0.20.31")

rm -rf "$DEST" && mkdir -p "$DEST"
for spec in "${specs[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DEST" "$spec"
done

# What travels: tracked files, untracked files git does not ignore, and the carried wheels.
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r du -cb 2>/dev/null | awk '$2=="total"{s+=$1} END{print s+0}')
wheels=$(du -cb "$DEST"/*.whl | awk '$2=="total"{print $1}')
total_mb=$(( (tree + wheels) / 1048576 ))
ls -la "$DEST"
echo "travels: tree $((tree / 1048576)) MiB + wheels $((wheels / 1048576)) MiB = ${total_mb} MiB (limit ${LIMIT_MB})"
if (( total_mb > LIMIT_MB )); then
  echo "device_wheels.sh: too much to carry; the device tool takes 64 MiB in all" >&2
  exit 1
fi
