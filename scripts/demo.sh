#!/usr/bin/env bash
# Set up everything (idempotent) and measure the bundled sample sheets with the shipped models.
# Writes out/demo/<stem>.json, <stem>.opends.json and <stem>.overlay.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/herbmorph measure samples/*.jpg --out "${1:-out/demo}"
