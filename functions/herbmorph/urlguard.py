"""Which URLs a caller may make us fetch (SSRF guard), decided before any connection is made.

The guard normalises first and judges second, because every parser that sees the host must agree
on the address it names:

* **Host text.** Lower-cased, IDNA-mapped (fullwidth digits and ideographic dots become ASCII, as
  a resolver would see them), one trailing dot removed. ``localhost`` and ``*.localhost``
  (RFC 6761) are loopback by definition and refused without asking a resolver.
* **IPv4 in any notation.** A host whose last label is a number is an IPv4 address to the WHATWG
  URL parser and to glibc's ``inet_aton`` (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``);
  it is parsed here the same way (1-4 parts, decimal, ``0x`` hex or leading-zero octal, the last
  part filling the remaining bytes) and judged as that address. A numeric-looking host that does
  not parse is refused: it never reaches a resolver, which might read it differently.
* **IPv4 inside IPv6.** IPv4-compatible ``::a.b.c.d`` (Python counts ``::/96`` as global),
  mapped ``::ffff:a.b.c.d``, SIIT ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::/96`` are unpacked and the
  IPv4 address judged (only mapped and NAT64 forms of a public address are then allowed: the
  other two are not global unicast). 6to4 (``2002::/16``) and Teredo (``2001::/32``) are
  unpacked too, so the refusal names a private address inside; they are refused either way
  (deprecated tunnels, not global unicast).
* **Only global unicast.** IPv4 must be ``is_global`` and not multicast, reserved or broadcast;
  IPv6 must lie in ``2000::/3`` and be ``is_global``. Everything else (loopback, private, ULA,
  link-local and so cloud metadata, CGNAT, multicast, documentation, reserved, unspecified,
  ``64:ff9b:1::/48`` local NAT64) is refused with a reason that names it.

``HERBMORPH_URL_ALLOW_LOOPBACK=1`` allows the literal loopback addresses 127.0.0.0/8 and ``::1``
(never their IPv6 embeddings). It exists only so the test suite can play a public server on
127.0.0.1; never set it in a deployment.
"""
from __future__ import annotations

import ipaddress
import os
import re
from typing import Optional, Union

IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

ALLOW_LOOPBACK_ENV = "HERBMORPH_URL_ALLOW_LOOPBACK"
#: longest URL accepted anywhere (the DEEPaaS field, redirect Locations): well above any real
#: image URL, presigned S3 URLs included, and small enough that every later step is cheap
MAX_URL_CHARS = 4096

# Named so the refusal says what the address is; all of them are also not global.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata address",  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"): "a cloud metadata address",  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"): "a cloud metadata address",  # Alibaba
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata address",  # AWS over IPv6
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPAT = ipaddress.ip_network("::/96")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_BROADCAST = ipaddress.ip_address("255.255.255.255")
# The IANA special-purpose ranges, spelled out: ``is_global`` changes between Python releases
# (3.11.7 calls 192.0.0.8 global), and this guard must not.
_NOT_GLOBAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8")]
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBERISH = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


class HostError(ValueError):
    """The host cannot be read unambiguously (``kind`` ``bad-url``)."""


def allow_loopback() -> bool:
    return os.environ.get(ALLOW_LOOPBACK_ENV) == "1"


def _ipv4_part(text: str) -> int:
    if text.startswith("0x"):
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text.startswith("0"):
        if any(c in "89" for c in text):
            raise HostError(f"{text!r} is not an octal number")
        return int(text, 8)
    return int(text, 10)


def parse_ipv4(host: str) -> Optional[ipaddress.IPv4Address]:
    """``host`` as an IPv4 address in any inet_aton/WHATWG notation, ``None`` if it is a name.

    Raises :class:`HostError` for a host that ends in a number but is no valid address (a name
    like that is refused rather than handed to a resolver that may parse it its own way).
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]
    if not _NUMBERISH.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMBERISH.fullmatch(p) for p in parts):
        raise HostError(f"{host!r} ends in a number but is not an IPv4 address")
    nums = [_ipv4_part(p) for p in parts]
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        raise HostError(f"{host!r} is out of range for an IPv4 address")
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def normalise_host(host: str) -> tuple[str, Optional[IP]]:
    """(ASCII host name, or ``""`` for an address literal; the address, or ``None`` for a name)."""
    host = host.lower()
    if ":" in host:  # urlsplit().hostname strips the brackets of an IPv6 literal
        if "%" in host:
            raise HostError("IPv6 zone identifiers are not accepted")
        try:
            return "", ipaddress.IPv6Address(host)
        except ValueError:
            raise HostError(f"{host!r} is not a valid IPv6 address") from None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise HostError(f"invalid host name {host!r}") from None
    ip = parse_ipv4(ascii_host)
    if ip is not None:
        return "", ip
    name = ascii_host[:-1] if ascii_host.endswith(".") else ascii_host
    if not (0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))):
        raise HostError(f"invalid host name {host!r}")
    return name, None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (translation, tunnelling), outermost first."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _COMPAT or ip in _SIIT or ip in _NAT64:
        return [low]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def _scope_problem(ip: IP) -> Optional[str]:
    """What both versions refuse by scope: cloud metadata, loopback, link-local, multicast and
    unspecified (for IPv4 all of 0.0.0.0/8). These IPv6 ranges carry no IPv4 address, so judging
    them before the embedded one changes no answer."""
    if ip in _METADATA:
        return _METADATA[ip]
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or (ip.version == 4 and int(ip) >> 24 == 0):
        return "an unspecified address"
    return None


def _v4_problem(ip: ipaddress.IPv4Address) -> Optional[str]:
    why = _scope_problem(ip)
    if why:
        return why
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_reserved or ip == _BROADCAST or any(ip in n for n in _NOT_GLOBAL):
        return "not a public address"  # CGNAT 100.64/10, benchmarking, documentation, reserved ...
    return None


def address_problem(ip: IP) -> Optional[str]:
    """Why ``ip`` may not be fetched from (``None``: a global unicast address)."""
    if allow_loopback() and ip.is_loopback:
        return None  # the literal 127.0.0.0/8 or ::1 only: embeddings are judged below
    if ip.version == 4:
        return _v4_problem(ip)
    why = _scope_problem(ip)
    if why:
        return why
    for v4 in embedded_ipv4(ip):
        why = _v4_problem(v4)
        if why:
            return f"{why} (IPv4 {v4} inside IPv6)"
    if ip.ipv4_mapped is not None or ip in _NAT64:
        return None  # the same public IPv4 address, reached over IPv6 or a NAT64 gateway
    if ip.is_private or ip in _NAT64_LOCAL:
        return "a private address"
    if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global or ip.is_reserved or any(ip in n for n in _NOT_GLOBAL):
        return "not a public address"
    return None


def host_problem(name: str) -> Optional[str]:
    """Names refused without resolving them: ``localhost`` is loopback whatever DNS says."""
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback address"
    return None
