#!/usr/bin/env bash
# Held-out evaluation: 100 synthetic sheets with another seed (7), full 15–150 px/cm range.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
N=${N:-100}
.venv/bin/python -m herbmorph.synth generate data/heldout -n "$N" --seed 7 --resume --quiet
exec .venv/bin/herbmorph evaluate data/heldout --json "${1:-data/heldout-eval.json}"
