# herbmorph-scale: stage 2 of the OSCAR chain (ruler detector + Tesseract, CPU only).
# Build from the repository root:
#   docker build -f images/scale.Dockerfile -t registry.example.org/herbmorph/herbmorph-scale:0.1.0 .
# The ruler detector is a small YOLO model, so this image has torch too: the CPU-only build.
FROM python:3.11-slim-bookworm

ARG SCALE_WEIGHTS=models/scale.pt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=false \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    MPLCONFIGDIR=/tmp/matplotlib \
    HERBMORPH_DEVICE=cpu \
    HERBMORPH_SCALE_WEIGHTS=/opt/herbmorph/models/scale.pt

# Tesseract is pinned: its version decides which digits are read. libGL + glib (for the
# opencv-python wheel ultralytics pulls in) follow the Debian point release of the base tag.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr=5.3.0-2 tesseract-ocr-eng=1:4.1.0-2 libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/herbmorph
COPY pyproject.toml README.md* ./
COPY functions/herbmorph ./functions/herbmorph
# PyTorch's CPU-only wheels. Where that index is unreachable, `--build-arg
# TORCH_INDEX_URL=https://pypi.org/simple` takes PyPI's build instead (CUDA, several GB larger,
# same results on the CPU): scripts/build_images.sh does so when the index does not answer.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url="${TORCH_INDEX_URL}" \
      torch==2.15.0 torchvision==0.29.2 \
 && pip install --no-cache-dir \
      numpy==2.4.6 pillow==13.0.0 opencv-python-headless==5.0.0.93 pydantic==2.14.3 \
      PyYAML==6.0.3 rich==15.0.0 jsonschema==4.26.0 referencing==0.37.0 tifffile==2026.3.3 \
      ultralytics==8.4.190 pi-heif==1.4.0 tesserocr==2.13.0 scipy==1.17.1 minio==7.2.20 \
 && pip install --no-cache-dir --no-deps . \
 && python -c "import herbmorph.oscar.handler, herbmorph.scale.core, tesserocr; print(tesserocr.tesseract_version())"
COPY ${SCALE_WEIGHTS} /opt/herbmorph/models/scale.pt

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin herbmorph
USER 10001
# No ENTRYPOINT/CMD: OSCAR's supervisor runs script.sh (python3 -m herbmorph.oscar.handler scale).
