#!/bin/sh
# herbmorph-deepaas (OSCAR exposed service): the synchronous DEEPaaS API on port 5000.
# With `rewrite_target: true` the ingress keeps the service's path, so DEEPaaS must serve under it.
# OSCAR >= 3.6 sets OSCAR_SERVICE_BASE_PATH ("/" on DNS-subdomain routes); older ones do not, so
# the path-based route's value is the fallback.
BASE="${OSCAR_SERVICE_BASE_PATH:-/system/services/herbmorph-deepaas/exposed}"
[ "$BASE" = "/" ] && BASE=""
# aiohttp refuses bodies above this before DEEPaaS reads them into memory; the plugin's own,
# JSON-answered limit (HERBMORPH_MAX_BYTES) sits 1 MiB lower to leave room for the multipart framing.
MAX_BODY=$(( ${HERBMORPH_MAX_BYTES:-209715200} + 1048576 ))
exec deepaas-run --listen-ip 0.0.0.0 --listen-port 5000 ${BASE:+--base-path "$BASE"} \
  --model-name herbmorph --notrain-endpoint --client-max-size "$MAX_BODY" -p "${HERBMORPH_WORKERS:-1}"
