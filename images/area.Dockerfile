# herbmorph-area: stage 3 of the OSCAR chain (cm², openDS annotations, overlay PNG).
# Build from the repository root:
#   docker build -f images/area.Dockerfile -t registry.example.org/herbmorph/herbmorph-area:0.1.0 .
# No torch, no ultralytics, no Tesseract: only the light core dependencies and the S3 client.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The overlay's text as on the machines the tests run on: DejaVu Sans (without a TrueType font
# Pillow's built-in one draws labels ASCII-only: "cm^2") and FriBiDi, which the Pillow wheel's
# bundled libraqm loads at run time to shape text (without it: basic layout, no kerning).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core=2.37-6 libfribidi0=1.0.8-2.1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/herbmorph
COPY pyproject.toml README.md* ./
COPY functions/herbmorph ./functions/herbmorph
# The core dependencies of pyproject.toml (no `ml` extra), pinned, plus minio; then herbmorph
# without resolving again. The last line fails the build if torch ever sneaks in.
RUN pip install --no-cache-dir \
      numpy==2.4.6 pillow==13.0.0 opencv-python-headless==5.0.0.93 pydantic==2.14.3 \
      PyYAML==6.0.3 rich==15.0.0 jsonschema==4.26.0 referencing==0.37.0 tifffile==2026.3.3 \
      minio==7.2.20 \
 && pip install --no-cache-dir --no-deps . \
 && python -c "import importlib.util as u, herbmorph.oscar.handler, herbmorph.area; assert not any(u.find_spec(m) for m in ('torch', 'ultralytics', 'tesserocr'))"

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin herbmorph
USER 10001
# No ENTRYPOINT/CMD: OSCAR's supervisor runs script.sh (python3 -m herbmorph.oscar.handler area).
