#!/usr/bin/env bash
# Reproduce the shipped weights: synthetic sheets (seeds 1/2) → YOLO11n-seg + YOLO11n, CPU, time-boxed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/herbmorph train "$@"
