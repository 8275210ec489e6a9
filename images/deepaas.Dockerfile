# herbmorph-deepaas: the synchronous DEEPaaS API (one upload or URL in, the full result out).
# Build from the repository root:
#   docker build -f images/deepaas.Dockerfile -t registry.example.org/herbmorph/herbmorph-deepaas:0.1.0 .
# CPU image (both models + Tesseract). OSCAR runs fdl/herbmorph-deepaas.sh (deepaas-run under the
# service's path); `docker run -p 5000:5000 IMAGE` runs the CMD below with /etc/deepaas/deepaas.conf.
FROM python:3.11-slim-bookworm

ARG SEGMENT_WEIGHTS=models/segment.pt
ARG SCALE_WEIGHTS=models/scale.pt

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=false \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    MPLCONFIGDIR=/tmp/matplotlib \
    DEEPAAS_V2_MODEL=herbmorph \
    HERBMORPH_DEVICE=cpu \
    HERBMORPH_SEGMENT_WEIGHTS=/opt/herbmorph/models/segment.pt \
    HERBMORPH_SCALE_WEIGHTS=/opt/herbmorph/models/scale.pt

# Tesseract pinned (the OCR behind the scale stage); DejaVu Sans and FriBiDi for the overlay's text
# (as in images/area.Dockerfile); libGL/glib for the opencv wheel ultralytics pulls in follow the
# Debian point release of the base tag.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr=5.3.0-2 tesseract-ocr-eng=1:4.1.0-2 fonts-dejavu-core=2.37-6 libfribidi0=1.0.8-2.1 \
      libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/herbmorph
COPY pyproject.toml README.md* ./
COPY functions/herbmorph ./functions/herbmorph
# DEEPaaS 2.6 needs marshmallow 3 and webargs 5. Installing herbmorph registers the
# `deepaas.v2.model: herbmorph` entry point; the last command fails the build if DEEPaaS can't see it.
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
      deepaas==2.6.0 marshmallow==3.26.2 webargs==5.5.3 \
 && pip install --no-cache-dir --no-deps . \
 && python -c "from deepaas.model import loading; assert 'herbmorph' in loading.get_available_model_names('v2')"
COPY ${SEGMENT_WEIGHTS} /opt/herbmorph/models/segment.pt
COPY ${SCALE_WEIGHTS} /opt/herbmorph/models/scale.pt

# Defaults for a bare `deepaas-run` (oslo.config reads this file): no train endpoint, and request
# bodies capped at HERBMORPH_MAX_BYTES' default + 1 MiB before DEEPaaS reads them into memory.
RUN mkdir -p /etc/deepaas \
 && printf '[DEFAULT]\nmodel_name = herbmorph\ntrain_endpoint = false\nclient_max_size = 210763776\n' \
      > /etc/deepaas/deepaas.conf

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin herbmorph
USER 10001
EXPOSE 5000
CMD ["deepaas-run", "--listen-ip", "0.0.0.0", "--listen-port", "5000"]
