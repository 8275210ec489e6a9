#!/usr/bin/env bash
# The README's batch example, both ways, on the bundled sample sheets (set-up included):
#   1. local folders:  herbmorph batch samples --out out/batch-demo/results --report …
#   2. a real MinIO:   a throwaway local server (the one scripts/setup.sh built), the samples
#      uploaded to herbarium/in/, then herbmorph batch s3://herbarium/in --out s3://herbarium/results
# Each is run twice: the second run finds every result current and measures nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
PY=.venv/bin/python
OUT=out/batch-demo
mkdir -p "$OUT"

echo "== local folders"
for run in 1 2; do
  .venv/bin/herbmorph batch samples --out "$OUT/results" --journal "$OUT/local.sqlite" \
    --report "$OUT/report.html" --no-progress
done

echo "== a real MinIO on 127.0.0.1"
exec "$PY" - "$OUT" <<'EOF'
import subprocess, sys, tempfile
from pathlib import Path

from herbmorph.config import REPO_DIR
from herbmorph.localminio import LocalMinio

out = Path(sys.argv[1])
with tempfile.TemporaryDirectory(prefix="herbmorph-minio-") as data, LocalMinio(Path(data)) as minio:
    client = minio.client()
    client.make_bucket("herbarium")
    for sheet in sorted((REPO_DIR / "samples").glob("*.jpg")):
        client.fput_object("herbarium", f"in/{sheet.name}", str(sheet))
    cmd = [str(REPO_DIR / ".venv/bin/herbmorph"), "batch", "s3://herbarium/in", "--out", "s3://herbarium/results",
           "--journal", str(out / "minio.sqlite"), "--report", str(out / "report-minio.html"), "--no-progress"]
    env = {**__import__("os").environ, **minio.env()}  # credentials by environment, never on the command line
    for _ in range(2):
        subprocess.run(cmd, env=env, check=True)
    (out / "minio.sqlite").unlink()  # that MinIO is gone with its temp folder; its journal means nothing now
    print("results in MinIO:", sorted(o.object_name for o in client.list_objects("herbarium", "results/", recursive=True)))
EOF
