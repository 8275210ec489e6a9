"""Fetch an image from a caller-supplied http(s) URL without letting the caller reach inside our
network (SSRF).

* Only ``http`` and ``https``; no credentials in the URL (they would end up in logs and results).
* The host is resolved **once**; every address it resolves to must be public. The connection then
  goes to that checked address (TLS still verifies the certificate against the host name), so a
  DNS answer that changes between the check and the connect (rebinding) cannot sneak in.
* Loopback, private (RFC 1918, ULA), link-local (so 169.254.169.254 and other cloud metadata),
  CGNAT, multicast, reserved and unspecified addresses are refused, including IPv4 addresses
  hidden in IPv6 (mapped ``::ffff:a.b.c.d``, NAT64, 6to4, Teredo).
* Redirects are followed by hand (at most ``max_redirects``), each hop checked like the first.
* The body is capped at ``max_bytes`` (``Content-Length`` is checked first, then the stream), and
  the whole download, redirects included, must finish within ``timeout`` seconds.

Failures raise :class:`UrlError` (an :class:`InputError`) whose ``kind`` is ``forbidden-url``,
``bad-url``, ``fetch-failed``, ``fetch-timeout`` or ``too-large``.

``HERBMORPH_URL_ALLOW_LOOPBACK=1`` additionally allows 127.0.0.0/8 and ::1. It exists only so the
test suite can serve files and redirects from 127.0.0.1; never set it in a deployment.
"""
from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import herbmorph

from .errors import InputError

ALLOW_LOOPBACK_ENV = "HERBMORPH_URL_ALLOW_LOOPBACK"
TIMEOUT_ENV = "HERBMORPH_URL_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
MAX_REDIRECTS = 5
CHUNK = 1 << 20

# Named so the refusal says what the address is; all of them are also not ``is_global``.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata address",  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"): "a cloud metadata address",  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"): "a cloud metadata address",  # Alibaba
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata address",  # AWS over IPv6
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")


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


def _allow_loopback() -> bool:
    return os.environ.get(ALLOW_LOOPBACK_ENV) == "1"


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` may not be fetched from (``None``: it is a public address)."""
    if ip.version == 6:
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        embedded = embedded or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            why = address_problem(embedded)
            return f"{why} (IPv4 {embedded} inside IPv6)" if why else None
    if ip in _METADATA:
        return _METADATA[ip]
    if ip.is_loopback:
        return None if _allow_loopback() else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:  # CGNAT 100.64/10, benchmarking, documentation, reserved ...
        return "not a public address"
    return None


def _is_hostname(name: str) -> bool:
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


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
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"not a valid URL: {exc}", kind="bad-url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlError(f"only http and https URLs are accepted, not {scheme or 'a relative URL'!r}",
                       kind="forbidden-url")
    if parts.username is not None or parts.password is not None:
        raise UrlError("URLs with credentials (user:password@) are not accepted", kind="bad-url")
    host = parts.hostname
    if not host:
        raise UrlError("the URL has no host", kind="bad-url")
    port = port or (443 if scheme == "https" else 80)
    try:
        ips = [ipaddress.ip_address(host.split("%")[0])]
        said = "{ip} is {why}"
    except ValueError:
        said = "{host} resolves to {ip}, which is {why}"
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = ""
        if not _is_hostname(ascii_host):  # junk never reaches the resolver
            raise UrlError(f"invalid host name {host!r}", kind="bad-url") from None
        ips = _resolve(ascii_host, port, timeout)
    if not ips:
        raise UrlError(f"{host} has no address", kind="fetch-failed")
    # Every answer must be public: a resolver answering with a mix is refused, not raced.
    for ip in ips:
        why = address_problem(ip)
        if why:
            raise UrlError(said.format(host=host, ip=ip, why=why) + ": only public addresses may be fetched",
                           kind="forbidden-url")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, target, ips[0]


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
