"""The SSRF guard under generated address and URL forms (hypothesis).

Two kinds of proof, both without traffic beyond loopback:
- forms naming a non-loopback forbidden address are judged offline: the guard must read them as
  an address literal (so no resolver ever sees them) and refuse them;
- forms naming a loopback address are fetched for real (``urlfetch.fetch``) while a real HTTP
  server listens on exactly that loopback address, and that server must never get a connection,
  neither directly nor through a redirect from a server the test does allow.
"""
from __future__ import annotations

import http.server
import ipaddress
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herbmorph.urlfetch import UrlError, check_url, fetch
from herbmorph.urlguard import ALLOW_LOOPBACK_ENV, address_problem, normalise_host

# Every non-global IPv4 range the guard must refuse (IANA special-purpose registry).
FORBIDDEN_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")]
FORBIDDEN_V6 = [ipaddress.ip_network(n) for n in (
    "::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32", "100::/64", "64:ff9b:1::/48")]


@st.composite
def v4_in(draw, nets=FORBIDDEN_V4):
    net = draw(st.sampled_from(nets))
    return ipaddress.IPv4Address(int(net.network_address) + draw(st.integers(0, net.num_addresses - 1)))


def _num(draw, value: int) -> str:
    """One number in decimal, hex (mixed case) or octal, as inet_aton and WHATWG read them."""
    style = draw(st.sampled_from(["dec", "hex", "HEX", "oct"]))
    if style == "dec":
        return str(value)
    if style == "hex":
        return hex(value)
    if style == "HEX":
        return "0X" + format(value, "X")
    return "0" + format(value, "o")


@st.composite
def v4_text(draw, ip: ipaddress.IPv4Address) -> str:
    """``ip`` in any of the 1-4 part notations, each part in its own base, maybe a trailing dot."""
    b = ip.packed
    parts = draw(st.sampled_from([1, 2, 3, 4]))
    if parts == 1:
        nums = [int(ip)]
    elif parts == 2:
        nums = [b[0], int.from_bytes(b[1:], "big")]
    elif parts == 3:
        nums = [b[0], b[1], int.from_bytes(b[2:], "big")]
    else:
        nums = list(b)
    text = ".".join(_num(draw, n) for n in nums)
    return text + ("." if draw(st.booleans()) else "")


def _case(draw, text: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in text)


def _dotted_tails(v6: ipaddress.IPv6Address, ip: ipaddress.IPv4Address) -> list[str]:
    """``v6`` written with its low 32 bits as dotted IPv4: in full, and compressed where possible."""
    forms = [":".join(v6.exploded.split(":")[:6]) + ":" + str(ip)]
    head = v6.compressed.rsplit(":", 2)[0]
    try:
        if ipaddress.IPv6Address(head + ":" + str(ip)) == v6:
            forms.append(head + ":" + str(ip))
    except ValueError:
        pass
    return forms


@st.composite
def v6_embedding(draw, ip: ipaddress.IPv4Address) -> str:
    """``ip`` hidden in IPv6: compatible, mapped, SIIT, NAT64, 6to4 or Teredo, in mixed case."""
    form = draw(st.sampled_from(["compat", "mapped", "siit", "nat64", "6to4", "teredo"]))
    n = int(ip)
    if form == "compat":
        v6 = ipaddress.IPv6Address(n)
    elif form == "mapped":
        v6 = ipaddress.IPv6Address((0xFFFF << 32) | n)
    elif form == "siit":
        v6 = ipaddress.IPv6Address((0xFFFF << 48) | n)
    elif form == "nat64":
        v6 = ipaddress.IPv6Address((0x64FF9B << 96) | n)
    elif form == "6to4":
        v6 = ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | draw(st.integers(0, (1 << 80) - 1)))
    else:  # Teredo: server in bits 64-95, client obfuscated (xor) in the low 32
        server = draw(v4_in([ipaddress.ip_network("0.0.0.0/0")]))
        v6 = ipaddress.IPv6Address((0x20010000 << 96) | (int(server) << 64) | (n ^ 0xFFFFFFFF))
    text = draw(st.sampled_from([v6.compressed, v6.exploded]))
    if form in ("compat", "mapped", "siit", "nat64") and draw(st.booleans()):
        text = draw(st.sampled_from(_dotted_tails(v6, ip)))  # ::ffff:127.0.0.1 and the like
    return _case(draw, text)


@st.composite
def url_for(draw, host: str, port: int | None = None, v6: bool = False) -> str:
    scheme = _case(draw, draw(st.sampled_from(["http", "https"])))
    netloc = f"[{host}]" if v6 else host
    if port is not None:
        netloc += f":{port}"
    if draw(st.booleans()):
        netloc = draw(st.sampled_from(["user", "user:pw", "8.8.8.8", "a%40b"])) + "@" + netloc
    return f"{scheme}://{netloc}/{draw(st.sampled_from(['x', 'sheet.jpg', 'a?b=1']))}"


@st.composite
def forbidden_host(draw):
    """(host text, is an IPv6 literal) naming some forbidden address in some notation."""
    kind = draw(st.sampled_from(["v4", "v6-embedded", "v6"]))
    if kind == "v4":
        return draw(v4_text(draw(v4_in()))), False
    if kind == "v6-embedded":
        return draw(v6_embedding(draw(v4_in()))), True
    net = draw(st.sampled_from(FORBIDDEN_V6))
    ip = ipaddress.IPv6Address(int(net.network_address) + draw(st.integers(0, net.num_addresses - 1)))
    return _case(draw, ip.compressed), True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forbidden_host())
def test_every_form_of_a_forbidden_address_is_a_literal_and_refused(monkeypatch, case):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    host, _v6 = case
    name, ip = normalise_host(host)
    assert ip is not None and name == "", f"{host!r} would have gone to a resolver"
    assert address_problem(ip), f"{host!r} = {ip} was judged public"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_forbidden_urls_are_refused_before_any_connection(monkeypatch, data):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    host, v6 = data.draw(forbidden_host())
    url = data.draw(url_for(host, data.draw(st.none() | st.integers(1, 65535)), v6))
    with pytest.raises(UrlError) as err:
        check_url(url)  # a literal never reaches getaddrinfo, so nothing is sent anywhere
    assert err.value.kind in ("forbidden-url", "bad-url"), (url, err.value)


def test_public_forms_are_allowed_offline(monkeypatch):
    """The guard is not a wall: public addresses, in the same notations, pass (no connection made)."""
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    for url in ("http://8.8.8.8/x", "http://134744072/x", "http://0x8.0x8.0x8.0x8/x", "http://8.526344/x",
                "http://[2606:4700:4700::1111]/x", "http://[::ffff:8.8.8.8]/x", "http://[64:ff9b::8.8.8.8]/x",
                "HTTPS://8.8.8.8./x"):
        assert str(check_url(url)[4]) in ("8.8.8.8", "2606:4700:4700::1111", "::ffff:808:808", "64:ff9b::808:808"), url


# ------------------------------------------------------------------- real loopback servers


class CountingServer(http.server.ThreadingHTTPServer):
    """Counts every accepted connection; answers with a redirect to ``self.location`` if set."""

    daemon_threads = True

    def __init__(self, address, family=socket.AF_INET):
        self.address_family = family
        self.accepted = 0
        self.location = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(302 if outer.location else 200)
                if outer.location:
                    self.send_header("Location", outer.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(address, Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def get_request(self):
        sock_addr = super().get_request()
        self.accepted += 1
        return sock_addr


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def loopback_servers():
    v4 = CountingServer(("127.0.0.1", 0))
    v6 = CountingServer(("::1", 0), socket.AF_INET6) if _has_ipv6_loopback() else None
    target = CountingServer(("127.0.0.1", 0))  # only ever named by redirects
    yield v4, v6, target
    for s in (v4, v6, target):
        if s is not None:
            s.shutdown()
            s.server_close()


LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@st.composite
def loopback_url(draw, port: int, v6_port: int | None):
    """Some spelling of 127.0.0.1:port (or [::1]:v6_port, or localhost) that must not be fetched."""
    kind = draw(st.sampled_from(["v4", "v6-embedded", "name"] + (["v6"] if v6_port else [])))
    if kind == "v4":
        return draw(url_for(draw(v4_text(LOOPBACK)), port))
    if kind == "v6-embedded":
        return draw(url_for(draw(v6_embedding(LOOPBACK)), port, v6=True))
    if kind == "v6":
        return draw(url_for(_case(draw, draw(st.sampled_from(["::1", "0:0:0:0:0:0:0:1", "::0:1"]))), v6_port, v6=True))
    name = draw(st.sampled_from(["localhost", "localhost.", "LocalHost", "a.localhost", "x.y.LOCALHOST."]))
    return draw(url_for(name, port))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_loopback_forms_never_reach_the_loopback_server(monkeypatch, loopback_servers, data):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    v4, v6, _ = loopback_servers
    before = (v4.accepted, v6.accepted if v6 else 0)
    url = data.draw(loopback_url(v4.server_address[1], v6.server_address[1] if v6 else None))
    with pytest.raises(UrlError):
        fetch(url, max_bytes=1024, timeout=2)
    assert (v4.accepted, v6.accepted if v6 else 0) == before, f"{url} reached the server"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_redirect_hops_are_judged_like_the_first(monkeypatch, loopback_servers, data):
    """A server the test allows (literal 127.0.0.1 under the test-only flag) redirects to embedded
    and named spellings of another loopback server; that server must never be reached."""
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    first, _, target = loopback_servers
    try:
        port = target.server_address[1]
        kind = data.draw(st.sampled_from(["v6-embedded", "name"]))
        if kind == "v6-embedded":
            location = data.draw(url_for(data.draw(v6_embedding(LOOPBACK)), port, v6=True))
        else:
            location = data.draw(url_for(data.draw(st.sampled_from(["localhost", "LOCALHOST.", "b.localhost"])), port))
        first.location = location
        seen, reached = first.accepted, target.accepted
        with pytest.raises(UrlError):
            fetch(f"http://127.0.0.1:{first.server_address[1]}/start", max_bytes=1024, timeout=2)
        assert first.accepted == seen + 1, "the allowed first hop was not even made"
        assert target.accepted == reached, f"redirect to {location} was followed"
    finally:
        first.location = None


def test_the_counting_server_does_count(monkeypatch, loopback_servers):
    """Control: with the test-only flag the literal address is fetched and the count moves, so a
    count of zero above means no connection, not a blind counter."""
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    v4, _, _ = loopback_servers
    before = v4.accepted
    assert fetch(f"http://127.0.0.1:{v4.server_address[1]}/x", max_bytes=1024, timeout=5).data == b""
    assert v4.accepted == before + 1
    # the flag allows the literal only: the same address inside IPv6 stays refused
    with pytest.raises(UrlError):
        fetch(f"http://[::ffff:127.0.0.1]:{v4.server_address[1]}/x", max_bytes=1024, timeout=5)
    assert v4.accepted == before + 1
