#!/usr/bin/env bash
# Set up (idempotent) and start the synchronous API on this machine:
#   Swagger UI  http://127.0.0.1:5000/api
#   predict     curl -F image=@samples/sheet-99-00000.jpg http://127.0.0.1:5000/v2/models/herbmorph/predict/
# Env: PORT (5000), HERBMORPH_LISTEN_IP (127.0.0.1), HERBMORPH_WORKERS (1 worker process, each
# holding both models), HERBMORPH_MAX_BYTES; extra arguments go to deepaas-run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Refuse bodies above the upload limit + 1 MiB of multipart framing before DEEPaaS reads them.
MAX_BODY=$(( ${HERBMORPH_MAX_BYTES:-209715200} + 1048576 ))
exec .venv/bin/deepaas-run --listen-ip "${HERBMORPH_LISTEN_IP:-127.0.0.1}" --listen-port "${PORT:-5000}" \
  --model-name herbmorph --notrain-endpoint --client-max-size "$MAX_BODY" -p "${HERBMORPH_WORKERS:-1}" "$@"
