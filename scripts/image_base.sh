#!/usr/bin/env bash
# A local stand-in for `python:3.11-slim-bookworm`, for machines that reach the Debian archive and
# PyPI but no container registry. Called by scripts/build_images.sh (which sets the storage up);
# prints the image's name. Cached: does nothing when the image in the store was made by this very
# recipe with this machine's extra CA certificates.
#
# What the official image is, and what this one is instead:
#   official: debian:bookworm-slim + CPython 3.11.x built from source into /usr/local, with pip,
#             setuptools and wheel; ca-certificates, netbase, tzdata; LANG=C.UTF-8; CMD python3.
#   here:     debootstrap --variant=minbase of bookworm (+ bookworm-updates, bookworm-security) with
#             the slim image's dpkg/apt settings, Debian's python3.11 (3.11.2), pip/setuptools/wheel
#             from PyPI installed system-wide into /usr/local (no EXTERNALLY-MANAGED marker, as in
#             the official image, so a Dockerfile's `pip install` works as root), python, python3,
#             pip, pip3 in /usr/local/bin; the same ENV and CMD.
#   extra:    this machine's extra CA certificates (/usr/local/share/ca-certificates) are trusted,
#             and /etc/pip.conf names the system bundle, so apt and pip inside a build reach the
#             registries through this machine's egress. Images built here carry them: they are
#             for local checks, never for a registry.
set -euo pipefail
: "${CONTAINERS_STORAGE_CONF:?run through scripts/build_images.sh}"
HOME_DIR=${HERBMORPH_IMAGES_HOME:?}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
EXTRA_CA_DIR=${HERBMORPH_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
PYTHON=${PYTHON:-python3}
NAME=docker.io/library/python:3.11-slim-bookworm
PIP_PINS=(pip==26.3 setuptools==84.2.1 wheel==0.45.1)

log() { printf '[base] %s\n' "$*" >&2; }
# chroot with a clean environment: nothing of this machine's (PIP_*, proxies...) leaks in
in_root() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"; }

# The rootfs depends on this file only; the image on the rootfs and the CA certificates.
recipe=$(sha256sum "$0" | cut -c1-16)
cas=$(find "$EXTRA_CA_DIR" -name '*.crt' -type f 2>/dev/null | sort)
ca_key=$( (for f in $cas; do sha256sum <"$f"; done) | sha256sum | cut -c1-16)
key="$recipe-$ca_key"
if [ "$(buildah inspect --type image --format '{{index .ImageAnnotations "org.herbmorph.base-key"}}' "$NAME" 2>/dev/null)" = "$key" ]; then
  echo "$NAME"; exit 0
fi

mkdir -p "$HOME_DIR/base"
tarball=$HOME_DIR/base/bookworm-python3.11-$recipe.tar
if [ ! -s "$tarball" ]; then
  rm -f "$HOME_DIR"/base/bookworm-python3.11-*.tar   # older recipes
  root=$(mktemp -d "$HOME_DIR/base/rootfs.XXXXXX")
  chmod 755 "$root"   # it becomes the image's /: mktemp's 0700 would lock every other user out
  wheels=$(mktemp -d "$HOME_DIR/base/wheels.XXXXXX")
  cleanup() { umount "$root/proc" 2>/dev/null || true; rm -rf "$root" "$wheels"; }
  trap cleanup EXIT
  log "debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase --include=python3,ca-certificates,netbase,tzdata \
    bookworm "$root" "$MIRROR" >"$HOME_DIR/base/debootstrap.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/base/debootstrap.log" >&2; exit 1; }

  # apt and dpkg as in the debian:bookworm-slim image: deb822 sources with updates and security,
  # no docs/man/locales, no package caches, no recommends of suggests, gzipped lists.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
    >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,info,groff,lintian,linda}/* 
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

  log "security and point-release updates"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  in_root sh -c 'apt-get update -qq && apt-get -qq -y upgrade' >"$HOME_DIR/base/upgrade.log" 2>&1 \
    || { tail -n 20 "$HOME_DIR/base/upgrade.log" >&2; exit 1; }

  log "pip, setuptools, wheel (${PIP_PINS[*]}) into /usr/local"
  PIP_FIND_LINKS= "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "${PIP_PINS[@]}"
  rm -f "$root"/usr/lib/python3.11/EXTERNALLY-MANAGED
  mkdir -p "$root/tmp/wheels" && cp "$wheels"/*.whl "$root/tmp/wheels/"
  pipwhl=$(cd "$root/tmp/wheels" && ls pip-*.whl)
  in_root python3 "/tmp/wheels/$pipwhl/pip" install -q --no-index --no-cache-dir \
    --root-user-action=ignore --find-links /tmp/wheels "${PIP_PINS[@]}"
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python3"
  ln -sf python3 "$root/usr/local/bin/python"
  in_root sh -c 'command -v python python3 pip pip3 >/dev/null && [ "$(command -v python)" = /usr/local/bin/python ]'
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

  umount "$root/proc"
  rm -rf "$root"/tmp/* "$root"/root/.cache "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root/etc/resolv.conf"
  rm -rf "${root:?}"/dev/*
  tar -C "$root" --numeric-owner -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
  cleanup; trap - EXIT
fi

log "importing $tarball as $NAME (+ $(echo "$cas" | grep -c . || true) extra CA certificates)"
ctr=$(buildah from --pull=never scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add "$ctr" "$tarball" / >/dev/null
if [ -n "$cas" ]; then
  for f in $cas; do buildah copy "$ctr" "$f" "/usr/local/share/ca-certificates/$(basename "$f")" >/dev/null; done
  buildah run --isolation chroot "$ctr" -- update-ca-certificates >/dev/null 2>&1 \
    || { echo "update-ca-certificates failed in the base image" >&2; exit 1; }
fi
buildah config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 "$ctr"
pyver=$(buildah run --isolation chroot "$ctr" -- python -c 'import platform; print(platform.python_version())')
[[ $pyver == 3.11.* ]] || { echo "no python 3.11 in the base (got '$pyver')" >&2; exit 1; }
buildah config --env PYTHON_VERSION="$pyver" --cmd python3 \
  --annotation org.herbmorph.base-key="$key" \
  --label org.opencontainers.image.description="local stand-in for python:3.11-slim-bookworm (scripts/image_base.sh): Debian 12 + Debian's Python $pyver; trusts this machine's extra CAs" \
  "$ctr"
buildah commit --quiet --squash --rm "$ctr" "$NAME" >/dev/null
trap - EXIT
buildah rmi --prune >/dev/null 2>&1 || true   # the base this recipe replaces
echo "$NAME"
