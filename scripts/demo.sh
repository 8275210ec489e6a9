#!/usr/bin/env bash
# Set up everything (idempotent), then run the chain on the bundled sample sheets through the
# embedded runtime's zero-setup default (watched folders, the same FDL OSCAR runs):
#   <data>/herbarium/in/*.jpg  ->  <data>/herbarium/results/<name>.json, .opends.json, .overlay.png (<name>: the file name, extension included)
# `--drain` makes `herbmorph serve` exit once everything present is processed; drop it to keep
# watching the input folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA=${1:-out/demo}
mkdir -p "$DATA/herbarium/in"
cp samples/*.jpg "$DATA/herbarium/in/"
.venv/bin/herbmorph serve --fdl fdl/herbmorph-chain.yaml --data "$DATA" --drain
echo "results: $DATA/herbarium/results/"
ls "$DATA/herbarium/results/"
