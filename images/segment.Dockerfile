# herbmorph-segment: stage 1 of the OSCAR chain (YOLO11-seg on the GPU).
# Build from the repository root:
#   docker build -f images/segment.Dockerfile -t registry.example.org/herbmorph/herbmorph-segment:0.1.0 .
# The PyPI torch wheels bring the CUDA 13 runtime and cuDNN as pip packages, so a slim Python base
# is enough: the node supplies the NVIDIA driver (CUDA 13 capable) through the NVIDIA container
# toolkit. OSCAR mounts its supervisor at /oscar/bin and the script at /oscar/config at run time.
FROM python:3.11-slim-bookworm

# Weights baked into the image; override with --build-arg, or mount others and set the env var.
ARG SEGMENT_WEIGHTS=models/segment.pt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=false \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    MPLCONFIGDIR=/tmp/matplotlib \
    HERBMORPH_SEGMENT_WEIGHTS=/opt/herbmorph/models/segment.pt

# libGL + glib for the opencv-python wheel that ultralytics depends on. Debian stable only takes
# security fixes, and the base tag pins the release, so these two are left to the point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/herbmorph
COPY pyproject.toml README.md* ./
COPY functions/herbmorph ./functions/herbmorph
# torch first (CUDA build from PyPI), then the pinned runtime dependencies, then herbmorph itself
# without resolving again, so the image holds exactly these versions.
RUN pip install --no-cache-dir torch==2.15.0 torchvision==0.29.2 \
 && pip install --no-cache-dir \
      numpy==2.4.6 pillow==13.0.0 opencv-python-headless==5.0.0.93 pydantic==2.14.3 \
      PyYAML==6.0.3 rich==15.0.0 jsonschema==4.26.0 referencing==0.37.0 tifffile==2026.3.3 \
      ultralytics==8.4.190 pi-heif==1.4.0 tesserocr==2.13.0 scipy==1.17.1 minio==7.2.20 \
 && pip install --no-cache-dir --no-deps . \
 && python -c "import herbmorph.oscar.handler, herbmorph.segment.core, ultralytics"
COPY ${SEGMENT_WEIGHTS} /opt/herbmorph/models/segment.pt

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin herbmorph
USER 10001
# No ENTRYPOINT/CMD: OSCAR runs `/oscar/bin/supervisor`, which runs the function's script.sh
# (python3 -m herbmorph.oscar.handler segment).
