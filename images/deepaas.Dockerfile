# herbmorph-deepaas: the synchronous DEEPaaS API (one upload in, the full result out).
# PLACEHOLDER: the herbmorph DEEPaaS plugin (the `deepaas.v2.model` entry point) comes in a later
# issue; until then deepaas-run starts with no model loaded. Build from the repository root:
#   docker build -f images/deepaas.Dockerfile -t registry.example.org/herbmorph/herbmorph-deepaas:0.1.0 .
# CPU image (both models + Tesseract); OSCAR exposes it with `expose: {api_port: 5000}`.
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
    HERBMORPH_SEGMENT_WEIGHTS=/opt/herbmorph/models/segment.pt \
    HERBMORPH_SCALE_WEIGHTS=/opt/herbmorph/models/scale.pt

# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr=5.3.0-2 tesseract-ocr-eng=1:4.1.0-2 libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/herbmorph
COPY pyproject.toml README.md* ./
COPY functions/herbmorph ./functions/herbmorph
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
      torch==2.15.0 torchvision==0.29.2 \
 && pip install --no-cache-dir \
      numpy==2.4.6 pillow==13.0.0 opencv-python-headless==5.0.0.93 pydantic==2.14.3 \
      PyYAML==6.0.3 rich==15.0.0 jsonschema==4.26.0 referencing==0.37.0 tifffile==2026.3.3 \
      ultralytics==8.4.190 pi-heif==1.4.0 pytesseract==0.3.13 scipy==1.17.1 minio==7.2.20 \
      deepaas==2.6.0 marshmallow==3.26.2 webargs==5.5.3 \
 && pip install --no-cache-dir --no-deps . \
 && deepaas-run --help > /dev/null
COPY ${SEGMENT_WEIGHTS} /opt/herbmorph/models/segment.pt
COPY ${SCALE_WEIGHTS} /opt/herbmorph/models/scale.pt

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin herbmorph
USER 10001
EXPOSE 5000
CMD ["deepaas-run", "--listen-ip", "0.0.0.0", "--listen-port", "5000"]
