#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh Debian machine: system packages (Tesseract),
# a project venv with the CUDA builds of torch/torchvision (they also run on the CPU),
# the project itself, and a pinned MinIO server built from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${HERBMORPH_VENV:-$ROOT/.venv}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}

need_apt=()
command -v tesseract >/dev/null || need_apt+=(tesseract-ocr tesseract-ocr-eng)
# headless browser for the batch report test (Playwright drives the system chromium: its own
# browser download is not reachable here)
command -v chromium >/dev/null || need_apt+=(chromium)
# buildah (vfs storage, chroot isolation: no daemon or OCI runtime) and debootstrap (the local
# python:3.11-slim-bookworm base): tests/test_images_build.py builds the area image with them
command -v buildah >/dev/null || need_apt+=(buildah)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# RabbitMQ for `herbmorph mas` and its tests (they start their own broker on loopback; the
# package's own service is not used)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need_apt+=(rabbitmq-server)
if ((${#need_apt[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if [ ! -f "$VENV/.herbmorph-deps" ] || [ pyproject.toml -nt "$VENV/.herbmorph-deps" ]; then
  "$PY" -m pip install -q --upgrade pip
  # Regular PyPI torch (CUDA build): the CPU-only index's torchvision does not pair with it.
  "$PY" -m pip install -q "torch>=2.4" "torchvision>=0.19"
  "$PY" -m pip install -q -e ".[all]"
  touch "$VENV/.herbmorph-deps"
fi
"$PY" scripts/install_faas_supervisor.py  # OSCAR's faas-supervisor for `herbmorph serve` (no-op when present)

if [ "${HERBMORPH_SKIP_MINIO:-0}" != 1 ]; then
  GOBIN_DIR=$(go env GOPATH)/bin
  if [ ! -x "$GOBIN_DIR/minio" ]; then
    go install "github.com/minio/minio@$MINIO_VERSION" 2>&1 | tail -n 5 || echo "warning: minio install failed; the embedded runtime will use watched folders" >&2
  fi
fi
echo "setup done: $VENV"
