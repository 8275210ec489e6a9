"""Fetch an image from a caller-supplied http(s) URL without letting the caller reach inside our
network (SSRF).

* Only ``http`` and ``https``; no credentials in the URL (they would end up in logs and results).
* The host is resolved **once**; every address it resolves to must be public. The connection then
  goes to that checked address (TLS still verifies the certificate against the host name), so a
  DNS answer that changes between the check and the connect (rebinding) cannot sneak in.
* Only global unicast addresses are fetched from, whatever notation names them: the host is
  normalised and judged by :mod:`herbmorph.urlguard` (IPv4 in integer/hex/octal forms, IPv4
  inside IPv6, trailing dots, ``localhost``), literal or resolved alike.
* At most ``MAX_URL_CHARS`` characters, no whitespace or control characters (``urlsplit``
  silently deletes tabs and newlines, so the URL checked would not be the URL sent).
* Redirects are followed by hand (at most ``max_redirects``), each hop checked like the first.
* The body is capped at ``max_bytes`` (``Content-Length`` is checked first, then the stream), and
  the whole download, redirects included, must finish within ``timeout`` seconds.

Failures raise :class:`UrlError` (an :class:`InputError`) whose ``kind`` is ``forbidden-url``,
``bad-url``, ``fetch-failed``, ``fetch-timeout`` or ``too-large``.

``HERBMORPH_URL_ALLOW_LOOPBACK=1`` additionally allows the literal 127.0.0.0/8 and ::1. It exists
only so the test suite can serve files and redirects from 127.0.0.1; never set it in a deployment.
"""
from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import herbmorph

from .errors import InputError
from .urlguard import ALLOW_LOOPBACK_ENV, MAX_URL_CHARS, HostError, address_problem, host_problem, normalise_host

__all__ = ["ALLOW_LOOPBACK_ENV", "UrlError", "Fetched", "address_problem", "check_url", "fetch"]

TIMEOUT_ENV = "HERBMORPH_URL_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
MAX_REDIRECTS = 5
CHUNK = 1 << 20


class UrlError(InputError):
    kind = "fetch-failed"


@dataclass
class Fetched:
    data: bytes
    url: str  # the final URL, after redirects
    content_type: str | None


def timeout_from_env() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _resolve(host: str, port: int, timeout: float) -> list:
    """getaddrinfo with a time limit (it has none of its own); returns the distinct addresses."""
    box: dict = {}

    def run():
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise UrlError(f"resolving {host} took longer than {timeout:.0f} s", kind="fetch-timeout")
    if "error" in box:
        raise UrlError(f"cannot resolve {host}: {box['error']}", kind="fetch-failed")
    seen = []
    for _family, _type, _proto, _canon, sockaddr in box["infos"]:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if ip not in seen:
            seen.append(ip)
    return seen


def check_url(url: str, timeout: float = CONNECT_TIMEOUT_S):
    """Validate ``url`` and resolve it: returns (scheme, host, port, target, ip) or raises."""
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise UrlError(f"the URL is longer than {MAX_URL_CHARS} characters", kind="bad-url")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):  # urlsplit silently drops tabs/newlines
        raise UrlError("the URL contains spaces or control characters", kind="bad-url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"not a valid URL: {exc}", kind="bad-url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlError(f"only http and https URLs are accepted, not {scheme or 'a relative URL'!r}",
                       kind="forbidden-url")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UrlError("URLs with credentials (user:password@) are not accepted", kind="bad-url")
    if "\\" in parts.netloc:  # browsers read a backslash as "/": two parsers, two hosts
        raise UrlError("a backslash in the host part is not accepted", kind="bad-url")
    host = parts.hostname
    if not host:
        raise UrlError("the URL has no host", kind="bad-url")
    port = port or (443 if scheme == "https" else 80)
    try:
        name, literal = normalise_host(host)
    except HostError as exc:
        raise UrlError(str(exc), kind="bad-url") from None
    if literal is not None:
        ips, said = [literal], "{ip} is {why}"
    else:
        said = "{host} resolves to {ip}, which is {why}"
        why = host_problem(name)
        if why:
            raise UrlError(f"{host} is {why}: only public addresses may be fetched", kind="forbidden-url")
        ips = _resolve(name, port, timeout)
    if not ips:
        raise UrlError(f"{host} has no address", kind="fetch-failed")
    # Every answer must be public: a resolver answering with a mix is refused, not raced.
    for ip in ips:
        why = address_problem(ip)
        if why:
            raise UrlError(said.format(host=host, ip=ip, why=why) + ": only public addresses may be fetched",
                           kind="forbidden-url")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, name or host, port, target, ips[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the already checked address; Host header and URL keep the name."""

    def __init__(self, host, port, ip, timeout):
        super().__init__(host, port, timeout=timeout)
        self._ip = str(ip)

    def connect(self):
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, ip, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = str(ip)

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(url: str, *, max_bytes: int, timeout: float | None = None,
          max_redirects: int = MAX_REDIRECTS) -> Fetched:
    """Download ``url`` under the rules in the module docstring."""
    timeout = timeout_from_env() if timeout is None else timeout
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UrlError(f"the download took longer than {timeout:g} s", kind="fetch-timeout")
        return left

    for _hop in range(max_redirects + 1):
        scheme, host, port, target, ip = check_url(url, min(CONNECT_TIMEOUT_S, remaining()))
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        conn = cls(host, port, ip, min(CONNECT_TIMEOUT_S, remaining()))
        try:
            conn.request("GET", target, headers={
                "User-Agent": f"herbmorph/{herbmorph.__version__}", "Accept": "image/*, */*;q=0.5",
                "Accept-Encoding": "identity", "Connection": "close"})
            sock = conn.sock  # the response keeps reading from it after http.client drops conn.sock
            sock.settimeout(remaining())
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                if not location:
                    raise UrlError(f"redirect {resp.status} without a Location", kind="fetch-failed")
                url = urljoin(url, location.strip())
                continue
            if not 200 <= resp.status < 300:
                raise UrlError(f"the server answered HTTP {resp.status} {resp.reason}", kind="fetch-failed")
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise UrlError(f"the image is {int(length):,} bytes, over the limit of {max_bytes:,} bytes "
                               f"(HERBMORPH_MAX_BYTES)", kind="too-large")
            chunks, size = [], 0
            while True:
                sock.settimeout(remaining())
                chunk = resp.read1(CHUNK)  # one recv at most, so the deadline is checked often
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise UrlError(f"the download passed the limit of {max_bytes:,} bytes "
                                   f"(HERBMORPH_MAX_BYTES)", kind="too-large")
                chunks.append(chunk)
            return Fetched(b"".join(chunks), url, resp.getheader("Content-Type"))
        except (socket.timeout, TimeoutError):
            raise UrlError(f"the download took longer than {timeout:g} s", kind="fetch-timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            raise UrlError(f"fetching failed: {type(exc).__name__}: {exc}", kind="fetch-failed") from None
        finally:
            conn.close()
    raise UrlError(f"more than {max_redirects} redirects", kind="fetch-failed")
