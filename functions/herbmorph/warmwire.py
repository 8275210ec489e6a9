"""The wire between an OSCAR function's ``script.sh`` and a warm worker that already holds the
models (:mod:`herbmorph.runtime.warm`): one request per connection on a Unix socket, each way a
4-byte big-endian length and a JSON object. Request ``{"argv", "env"}``, reply ``{"code",
"stdout", "stderr"}``. Light on purpose: the handler imports it before anything heavy.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import sys

from herbmorph.logsafe import escape_controls

SOCKET_ENV = "HERBMORPH_WARM_SOCKET"
_LEN = struct.Struct(">I")
MAX_MESSAGE = 64 * 2**20


def send(sock: socket.socket, obj) -> None:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    sock.sendall(_LEN.pack(len(data)) + data)


def recv(sock: socket.socket):
    def exactly(n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            buf += chunk
        return bytes(buf)

    (n,) = _LEN.unpack(exactly(_LEN.size))
    if n > MAX_MESSAGE:
        raise ConnectionError(f"message of {n} bytes is over the limit")
    return json.loads(exactly(n))


def forward(argv: list[str], path: str | None = None) -> int | None:
    """Run the handler call in the warm worker and return its exit status.

    None (run cold instead) only when the worker cannot be reached at all; a worker that dies
    mid-call gives 2 ("nothing written"), so the runtime retries the event rather than this
    process loading the models behind a runtime that may itself be gone.
    """
    path = path or os.environ.get(SOCKET_ENV, "")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError as exc:
            print(escape_controls(f"herbmorph: warm worker at {path!r} unreachable ({exc}); running cold"), file=sys.stderr)
            return None
        try:
            send(sock, {"argv": list(argv), "env": dict(os.environ)})
            reply = recv(sock)
        except (OSError, ConnectionError, ValueError) as exc:
            print(escape_controls(f"herbmorph: warm worker failed mid-call ({exc})"), file=sys.stderr)
            return 2
    sys.stdout.write(reply.get("stdout", ""))
    sys.stderr.write(reply.get("stderr", ""))
    return int(reply.get("code", 2))
