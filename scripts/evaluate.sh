#!/usr/bin/env bash
# Held-out evaluation: 100 synthetic sheets with another seed (7), full 15–250 px/cm range, colour targets and sheets photographed askew included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
N=${N:-100}
.venv/bin/python -m herbmorph.synth generate data/heldout -n "$N" --seed 7 --resume --quiet
exec .venv/bin/herbmorph evaluate data/heldout --json "${1:-data/heldout-eval.json}"
