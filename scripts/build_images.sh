#!/usr/bin/env bash
# Build the function images (images/*.Dockerfile, unchanged) with buildah, without a registry or a
# daemon, then run each function inside its image as OSCAR's supervisor would (scripts/image_run.py).
#
#   scripts/build_images.sh [--no-run] [--prune] [IMAGE...]     IMAGE: area scale segment deepaas
#
# The base `python:3.11-slim-bookworm` is bootstrapped from the Debian archive once and cached
# (scripts/image_base.sh). Storage is buildah's vfs driver (no overlay or fuse needed) under
# $HERBMORPH_IMAGES_HOME; RUN lines use chroot isolation (no OCI runtime needed). Prints each image's
# build time and size, and a summary table at the end.
#
#   --no-run   only build
#   --prune    remove each image once it has been built, sized and run (vfs keeps a full copy of the
#              root filesystem per layer: a torch image takes ~2x its size while it is kept)
#
# Settings (env):
#   HERBMORPH_IMAGES_HOME  buildah storage and the base cache (default /var/tmp/herbmorph-images)
#   REGISTRY, TAG          image names REGISTRY/herbmorph-IMAGE:TAG (localhost/herbmorph, pyproject's version)
#   TORCH_INDEX_URL        the index scale/deepaas take torch from (their Dockerfiles' TORCH_INDEX_URL
#                          build argument). Default: the Dockerfile's own, PyTorch's CPU-only index, when
#                          it answers; otherwise https://pypi.org/simple, whose Linux torch wheels are the
#                          CUDA build (works on the CPU, several GB larger), with a warning.
#   PYTHON                 the project's Python, for the runs (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=1 PRUNE=0 IMAGES=()
for arg in "$@"; do
  case $arg in
    --no-run) RUN=0 ;;
    --prune) PRUNE=1 ;;
    area|scale|segment|deepaas) IMAGES+=("$arg") ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
((${#IMAGES[@]})) || IMAGES=(area scale segment deepaas)

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/setup.sh" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap and buildah's vfs storage)" >&2; exit 1; }

export HERBMORPH_IMAGES_HOME=${HERBMORPH_IMAGES_HOME:-/var/tmp/herbmorph-images}
mkdir -p "$HERBMORPH_IMAGES_HOME"
cat >"$HERBMORPH_IMAGES_HOME/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$HERBMORPH_IMAGES_HOME/storage"
runroot = "$HERBMORPH_IMAGES_HOME/run"
EOF
export CONTAINERS_STORAGE_CONF=$HERBMORPH_IMAGES_HOME/storage.conf BUILDAH_ISOLATION=chroot
export PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
REGISTRY=${REGISTRY:-localhost/herbmorph}
TAG=${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)}

# one build at a time per store (a test and a person may share it)
exec 9>"$HERBMORPH_IMAGES_HOME/lock"
flock 9

t0=$(date +%s)
base=$(bash scripts/image_base.sh)
echo "base: $base ($(($(date +%s) - t0)) s)"

torch_args=()
if [ -z "${TORCH_INDEX_URL:-}" ] && [[ " ${IMAGES[*]} " =~ \ (scale|deepaas)\  ]]; then
  if "$PYTHON" - 2>/dev/null <<'EOF'
import urllib.request
urllib.request.urlopen("https://download.pytorch.org/whl/cpu/torch/", timeout=20)
EOF
  then :; else
    TORCH_INDEX_URL=https://pypi.org/simple
    echo "warning: PyTorch's CPU-only index is unreachable here: scale and deepaas take torch from" \
         "$TORCH_INDEX_URL (the CUDA build; larger, same results on the CPU)" >&2
  fi
fi
[ -n "${TORCH_INDEX_URL:-}" ] && torch_args=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")

size_of() {  # the layers, uncompressed (what `docker images` shows)
  buildah images --noheading --format '{{.Size}}' "$1"
}

work=$(mktemp -d "$HERBMORPH_IMAGES_HOME/run-work.XXXXXX")
trap 'echo "runs left in $work" >&2' ERR
summary=()
for name in "${IMAGES[@]}"; do
  image=$REGISTRY/herbmorph-$name:$TAG
  args=()
  case $name in scale|deepaas) args=("${torch_args[@]}") ;; esac
  echo "== building $image from images/$name.Dockerfile ${args[*]}"
  t=$(date +%s)
  buildah bud --pull=never --isolation chroot --layers=false -f "images/$name.Dockerfile" \
    -t "$image" "${args[@]}" . 2>&1 | sed -u "s/^/[$name] /"
  secs=$(($(date +%s) - t))
  buildah rmi --prune >/dev/null 2>&1 || true   # the image this tag named before, if any
  size=$(size_of "$image")
  echo "built $image in ${secs} s: $size"
  ran="not run"
  if [ "$RUN" = 1 ]; then
    t=$(date +%s)
    "$PYTHON" scripts/image_run.py "$name" "$image" --work "$work" | sed -u "s/^/[$name run] /"
    ran="ran in $(($(date +%s) - t)) s"
  fi
  summary+=("$(printf '%-44s %10s %6ss build  %s' "$image" "$size" "$secs" "$ran")")
  if [ "$PRUNE" = 1 ]; then buildah rmi "$image" >/dev/null; fi
done
echo "== summary (total $(($(date +%s) - t0)) s${torch_args:+; scale/deepaas: ${torch_args[1]}})"
printf '%s\n' "${summary[@]}"
rm -rf "$work"
