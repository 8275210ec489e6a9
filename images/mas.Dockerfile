# herbmorph-mas: herbmorph as a DiSSCo machine annotation service (RabbitMQ jobs in, openDS out).
# Build from the repository root:
#   docker build -f images/mas.Dockerfile -t registry.example.org/herbmorph/herbmorph-mas:0.1.0 .
# CPU image with the same cores as the DEEPaaS image (both models + Tesseract). DiSSCo runs it
# without a command and sets MAS_ID, MAS_NAME, RABBITMQ_HOST, RABBITMQ_QUEUE, RABBITMQ_USER,
# RABBITMQ_PASSWORD and RUNNING_ENDPOINT; the CMD below consumes jobs until SIGTERM, after which
# it finishes, publishes and acknowledges the job in hand (deploy/mas/README.md).
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
    HERBMORPH_DEVICE=cpu \
    HERBMORPH_SEGMENT_WEIGHTS=/opt/herbmorph/models/segment.pt \
    HERBMORPH_SCALE_WEIGHTS=/opt/herbmorph/models/scale.pt

# Tesseract pinned (the OCR behind the scale stage); libGL/glib for the opencv wheel ultralytics
# pulls in follow the Debian point release of the base tag.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr=5.3.0-2 tesseract-ocr-eng=1:4.1.0-2 libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/herbmorph
COPY pyproject.toml README.md* ./
COPY functions/herbmorph ./functions/herbmorph
# CPU torch first, then the pinned runtime dependencies (pika for RabbitMQ), then herbmorph itself
# without resolving again; the last command fails the build if the MAS entry point cannot load.
# Where PyTorch's CPU index is unreachable (scripts/build_images.sh checks), `--build-arg
# TORCH_INDEX_URL=https://pypi.org/simple` takes PyPI's build instead (CUDA, several GB larger).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url="${TORCH_INDEX_URL}" \
      torch==2.15.0 torchvision==0.29.2 \
 && pip install --no-cache-dir \
      numpy==2.4.6 pillow==13.0.0 opencv-python-headless==5.0.0.93 pydantic==2.14.3 \
      PyYAML==6.0.3 rich==15.0.0 jsonschema==4.26.0 referencing==0.37.0 tifffile==2026.3.3 \
      ultralytics==8.4.190 pi-heif==1.4.0 tesserocr==2.13.0 scipy==1.17.1 minio==7.2.20 \
      pika==1.4.4 \
 && pip install --no-cache-dir --no-deps . \
 && python -c "import herbmorph.mas.consumer, herbmorph.pipeline, ultralytics, tesserocr" \
 && herbmorph mas --help > /dev/null
COPY ${SEGMENT_WEIGHTS} /opt/herbmorph/models/segment.pt
COPY ${SCALE_WEIGHTS} /opt/herbmorph/models/scale.pt

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin herbmorph
USER 10001
CMD ["herbmorph", "mas"]
