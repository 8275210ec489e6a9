"""Install OSCAR's faas-supervisor 1.5.8 from PyPI into the running interpreter.

Why not ``pip install faas-supervisor``: the published 1.5.8 wheel declares
``Requires-Dist: webdavclient3 (==3.14.6requests)`` (a missing comma upstream), which current pip
rejects as invalid metadata, so pip will not even select the release. We fetch the very wheel from
PyPI (pinned URL and sha256), repair that one line to ``webdavclient3==3.14.6`` + ``requests``,
rewrite RECORD's hash for METADATA, and let pip install the result with its real dependencies.
The package code is untouched.

Idempotent: does nothing when faassupervisor 1.5.8 is already importable.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

VERSION = "1.5.8"
URL = ("https://files.pythonhosted.org/packages/d8/ad/47d22089453434487a375b13a180dd37531d6d4c84d62dd4fc6358dd9a2a/"
       f"faas_supervisor-{VERSION}-py3-none-any.whl")
SHA256 = "1f1cb810ee3a7cfa1e7fa671edf80a8d0dfc914a66edf8dd8bc32c107088b7ce"
BROKEN = "Requires-Dist: webdavclient3 (==3.14.6requests)"
FIXED = "Requires-Dist: webdavclient3 (==3.14.6)\nRequires-Dist: requests"


def installed() -> bool:
    try:
        return importlib.metadata.version("faas-supervisor") == VERSION
    except importlib.metadata.PackageNotFoundError:
        return False


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repaired_wheel(src: Path, dest_dir: Path) -> Path:
    dest = dest_dir / src.name
    info = f"faas_supervisor-{VERSION}.dist-info"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        metadata = zin.read(f"{info}/METADATA").decode("utf-8")
        if BROKEN not in metadata:
            raise SystemExit(f"unexpected METADATA in {src.name}: the upstream line changed, re-check this fix")
        fixed = metadata.replace(BROKEN, FIXED).encode("utf-8")
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == f"{info}/METADATA":
                data = fixed
            elif item.filename == f"{info}/RECORD":
                lines = []
                for line in data.decode("utf-8").splitlines():
                    if line.startswith(f"{info}/METADATA,"):
                        line = f"{info}/METADATA,{_record_hash(fixed)},{len(fixed)}"
                    lines.append(line)
                data = ("\n".join(lines) + "\n").encode("utf-8")
            zout.writestr(item, data)
    return dest


def main() -> int:
    if installed():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(tmp, "dl", Path(URL).name)
        wheel.parent.mkdir()
        with urllib.request.urlopen(URL, timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != SHA256:
            raise SystemExit(f"sha256 mismatch for {URL}: refusing to install")
        wheel.write_bytes(data)
        fixed = repaired_wheel(wheel, Path(tmp))
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", str(fixed)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
