"""web/outbound.py: every outbound call ends by its total deadline, goes only to allowed addresses, and fails
with a message that says nothing about the internal network; registration fetches have a concurrency cap."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from lti_tool.web import outbound
from lti_tool.web.outbound import AddressPolicy


class DripServer:
    """A server on 127.0.0.1 that answers one byte per `interval` seconds, forever (or headers first, then a
    body that never ends): what a hostile platform does to hold a thread."""

    def __init__(self, *, headers_first: bool = False, interval: float = 1.0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"
        self.headers_first, self.interval = headers_first, interval
        self.stopped = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if self.headers_first:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                payload = b"HTTP/1.1 200 OK\r\n" if not self.headers_first else b"{" + b" " * 100000
                for byte in payload:
                    if self.stopped.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.close()


@pytest.fixture
def drip_body() -> Iterator[DripServer]:
    server = DripServer(headers_first=True)
    yield server
    server.close()


def _config(**extra: Any) -> dict[str, Any]:
    config = {
        "HTTP_TIMEOUT": 5,  # longer than the drip's interval: no read ever times out
        "HTTP_DEADLINE": 2.5,
        "OUTBOUND_ALLOW_LOCAL": True,
        "OUTBOUND_ALLOW_PRIVATE": False,
        "REGISTRATION_ALLOW_LOCAL": True,
        "REGISTRATION_FETCH_CONCURRENCY": 2,
    }
    config.update(extra)
    return config


@pytest.fixture
def outbound_app() -> Iterator[Any]:
    from flask import Flask

    app = Flask(__name__)
    app.config.update(_config())
    with app.app_context():
        yield app


@pytest.mark.slow  # waits out a real 2.5 s deadline
@pytest.mark.parametrize("server", ["drip", "drip_body"])
def test_a_server_sending_one_byte_a_second_is_cut_off_at_the_deadline(outbound_app, server, request):
    slow: DripServer = request.getfixturevalue(server)
    started = time.monotonic()
    with pytest.raises(outbound.OutboundTimeout) as caught:
        outbound.fetch("GET", slow.url, max_bytes=512 * 1024)
    elapsed = time.monotonic() - started
    assert 2.4 <= elapsed < 3.5, elapsed  # the deadline (2.5 s), not the per-read timeout or the drip's length
    assert str(caught.value) == "The server did not answer completely in time."


@pytest.mark.slow  # waits out a real 2.5 s deadline
def test_the_service_session_has_the_same_deadline(outbound_app, drip_body):
    session = outbound.session_for(outbound_app.config)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        session.get(drip_body.url)
    assert time.monotonic() - started < 3.5


@pytest.mark.slow  # waits out a real 2.5 s deadline
def test_a_kept_alive_connection_is_watched_by_each_call_that_uses_it(outbound_app):
    """A second call on a pooled connection is cut off at its own deadline too."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/slow":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    time.sleep(0.5)
                    self.wfile.write(b"x")
                    self.wfile.flush()
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        session = outbound.session_for(outbound_app.config)
        assert session.get(base + "/fast").content == b"{}"
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout):
            session.get(base + "/slow")
        assert time.monotonic() - started < 3.5
    finally:
        server.shutdown()
        server.server_close()


def test_a_fast_answer_is_unaffected_and_nothing_is_left_watched(outbound_app):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"keys": []}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fetched = outbound.fetch("GET", f"http://127.0.0.1:{server.server_address[1]}/", max_bytes=5)
        assert fetched.status == 200 and fetched.body == b'{"key' and fetched.truncated
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow  # waits out a real 2.5 s deadline
def test_registration_fetches_beyond_the_cap_get_a_503_at_once(outbound_app, drip):
    results: list[Any] = []

    def slow_fetch() -> None:
        try:
            outbound.fetch("GET", drip.url, max_bytes=1000, anonymous=True)
        except Exception as exc:  # noqa: BLE001  (recorded for the assertion)
            results.append(exc)

    threads = [threading.Thread(target=lambda: outbound_app.app_context().push() or slow_fetch()) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 2
    while drip.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    with pytest.raises(outbound.OutboundBusy) as caught:
        outbound.fetch("GET", drip.url, max_bytes=1000, anonymous=True)
    assert time.monotonic() - started < 0.5
    assert caught.value.status == 503 and caught.value.retry_after
    for t in threads:
        t.join()
    assert all(isinstance(r, outbound.OutboundTimeout) for r in results)
    # The slots are free again once those calls ended.
    with pytest.raises(outbound.OutboundTimeout):
        outbound.fetch("GET", drip.url, max_bytes=1000, anonymous=True)


# --- the address policy ---------------------------------------------------------------------------

REFUSED_BY_DEFAULT = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "::1",
    "0.0.0.0",  # unspecified
    "::",
    "169.254.169.254",  # link-local: AWS, GCP, Azure metadata
    "169.254.170.2",  # ECS task metadata
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6 (unique-local)
    "fd12:3456::1",  # IPv6 unique-local
    "fc00::1",
    "100.100.100.200",  # Alibaba metadata (CGNAT range)
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "10.1.2.3",  # private
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "192.0.0.192",  # Oracle metadata
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.10",  # documentation
    "198.18.0.1",  # benchmarking
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "fec0::1",  # site-local (deprecated)
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "100.63.255.255", "100.128.0.1"]
PRIVATE = ["10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12:3456::1", "fc00::1"]
METADATA = ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "169.254.170.2"]


@pytest.mark.parametrize("address", REFUSED_BY_DEFAULT)
def test_refused_by_default(address):
    assert not AddressPolicy().allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert AddressPolicy().allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PRIVATE)
def test_private_ranges_only_when_configured(address):
    assert not AddressPolicy().allows(ipaddress.ip_address(address))
    assert AddressPolicy(allow_private=True).allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", METADATA + ["127.0.0.1", "169.254.1.1", "100.64.0.1", "fe80::1"])
def test_metadata_and_local_stay_refused_when_private_ranges_are_allowed(address):
    assert not AddressPolicy(allow_private=True).allows(ipaddress.ip_address(address))


def test_allow_local_is_for_development_only_and_opens_everything():
    assert all(AddressPolicy(allow_local=True).allows(ipaddress.ip_address(a)) for a in REFUSED_BY_DEFAULT)


def test_the_registration_policy_ignores_the_demo_platform_allowance():
    config = _config(OUTBOUND_ALLOW_LOCAL=True, REGISTRATION_ALLOW_LOCAL=False)
    assert outbound.policy_for(config) == AddressPolicy(allow_local=True, allow_private=True)
    assert outbound.policy_for(config, registration=True) == AddressPolicy(allow_local=False, allow_private=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "100.100.100.200", "10.0.0.1"])
def test_a_refused_address_is_never_connected_to_and_the_error_says_nothing_of_it(outbound_app, host, monkeypatch):
    outbound_app.config.update(OUTBOUND_ALLOW_LOCAL=False)
    connects: list[Any] = []
    real_create = outbound.urllib3_connection.create_connection
    monkeypatch.setattr(
        outbound.urllib3_connection, "create_connection", lambda *a, **k: connects.append(a) or real_create(*a, **k)
    )
    with pytest.raises(outbound.OutboundRefused) as caught:
        outbound.fetch("GET", f"http://{host}:9/x", max_bytes=100)
    assert not connects
    message = str(caught.value)
    assert host.strip("[]") not in message and "Error" not in message and "9" not in message
    with pytest.raises(outbound.OutboundRefused):
        outbound.session_for(outbound_app.config).get(f"http://{host}:9/x")


def test_the_address_connected_to_is_the_address_checked(outbound_app, monkeypatch):
    """DNS rebinding: a name that resolves to a public address when checked and to loopback when connecting
    must not reach loopback. The connection goes to the checked address itself."""
    outbound_app.config.update(OUTBOUND_ALLOW_LOCAL=False)
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    connected: list[Any] = []
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(
        outbound.urllib3_connection,
        "create_connection",
        lambda address, *a, **k: connected.append(address) or (_ for _ in ()).throw(OSError("no route")),
    )
    with pytest.raises(outbound.OutboundUnreachable) as caught:
        outbound.fetch("GET", "http://rebind.example/x", max_bytes=100)
    assert connected == [("93.184.215.14", 80)]
    assert "no route" not in str(caught.value) and "OSError" not in str(caught.value)


def test_unreachable_and_refused_connections_share_one_fixed_message(outbound_app):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    with pytest.raises(outbound.OutboundUnreachable) as caught:
        outbound.fetch("GET", f"http://127.0.0.1:{port}/", max_bytes=100)
    assert str(caught.value) == outbound.OutboundUnreachable.message
    assert "ConnectionError" not in str(caught.value) and str(port) not in str(caught.value)
