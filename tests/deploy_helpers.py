"""What several deployment tests read the same way: Dockerfile instructions, and a loopback
stand-in for OSCAR's API that answers like OSCAR and keeps what it was sent."""
from __future__ import annotations

import http.server
from pathlib import Path


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text("utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), " ".join(rest.split())))
        buf = ""
    return out


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A loopback handler that keeps pytest's output clean and answers with a plain body."""

    def log_message(self, *args):
        pass

    def _reply(self, code: int, body: bytes = b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
