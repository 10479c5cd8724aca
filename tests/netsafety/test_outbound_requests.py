"""Requests under the URL policy (swapgate.outbound) against real loopback servers: refused forms are
never connected to, the connection goes to the address that was checked (DNS rebinding), TLS uses
the URL's name, redirects are checked hop by hop, and a total deadline ends slow peers."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import urllib3.util.connection
from swapgate import outbound
from swapgate.errors import ImageTooLarge, InvalidRequest
from swapgate.outbound import MAX_REDIRECTS, RequestFailed, download, safe_request

FIELD = "result_image"
PUBLIC = "93.184.215.14"  # a public address: nothing here is ever really connected to it


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Peer:
    """A loopback TCP server that counts connections and records requests; ``respond(conn, request)``
    answers, or ``on_connect(conn)`` takes over a connection before any request is read."""

    respond: object = None
    on_connect: object = None
    tls: ssl.SSLContext | None = None
    accepts: int = 0
    requests: list[Request] = field(default_factory=list)
    server_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/a.png", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepts += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.on_connect:
                self.on_connect(conn)
                return
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            method, path, _ = reader.readline().decode().split(" ", 2)
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
            body = reader.read(int(headers.get("content-length", 0)))
            self.requests.append(Request(method, path, headers, body))
            self.respond(conn, self.requests[-1])
        except (OSError, ValueError):
            pass  # the client went away (or was refused by TLS)
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peers():
    started: list[Peer] = []

    def start(**kwargs) -> Peer:
        started.append(Peer(**kwargs))
        return started[-1]

    yield start
    for peer in started:
        peer.close()


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b""):
    def respond(conn: socket.socket, _request: Request) -> None:
        head = {"Content-Length": str(len(body)), **(headers or {})}
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in head.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return respond


def drip(prefix: bytes, byte: bytes, every: float = 0.5):
    """Send ``prefix``, then one ``byte`` every ``every`` seconds for as long as the client listens."""

    def respond(conn: socket.socket, _request: Request | None = None) -> None:
        conn.sendall(prefix)
        for _ in range(120):
            time.sleep(every)
            conn.sendall(byte)

    return respond


@pytest.fixture
def private_allowed(monkeypatch):
    monkeypatch.setenv("SWAPGATE_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def public_only(monkeypatch):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS", raising=False)


@pytest.fixture
def private_allowed_later(monkeypatch):
    return lambda: monkeypatch.setenv("SWAPGATE_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def resolver(monkeypatch):
    """socket.getaddrinfo answering names from ``answers`` (a list per name: one answer per call,
    the last one repeated); other hosts (the IP addresses urllib3 connects to) resolve as usual."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        addresses = answers[host][min(calls.count(host), len(answers[host])) - 1]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


@pytest.fixture
def connects(monkeypatch):
    """Record every address urllib3 connects to; ``forward[address] = port`` sends it to a loopback port."""
    real = urllib3.util.connection.create_connection
    seen: list[tuple[str, int]] = []
    forward: dict[str, int] = {}

    def create_connection(address, *args, **kwargs):
        seen.append(address)
        if address[0] in forward:
            return real(("127.0.0.1", forward[address[0]]), *args, **kwargs)
        if address[0] == PUBLIC:
            raise ConnectionRefusedError(111, "no network in tests")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return seen, forward


def tls_pair(tmp_path, monkeypatch, name: str) -> ssl.SSLContext:
    """A self-signed certificate for ``name``: the server's context is returned, and the client
    side (outbound's TLS context) trusts only that certificate."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    client = ssl.create_default_context(cafile=str(cert_file))
    monkeypatch.setattr(outbound, "_tls_context", lambda: client)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server


# --- refused forms are never connected to ---------------------------------------------------------


def test_refused_forms_are_never_connected_to(peers, resolver, public_only, private_allowed_later):
    peer = peers(respond=answer(200, body=b"secret"))
    answers, _ = resolver
    answers["rebound.test"] = [["127.0.0.1"]]
    answers["mixed.test"] = [[PUBLIC, "127.0.0.1"]]
    port = peer.port
    forms = [
        f"https://127.0.0.1:{port}\\@good.example/x",  # requests connected to 127.0.0.1 here
        f"http://127.0.0.1:{port}/x",
        f"https://127.0.0.1:{port}/x",
        f"https://127.0.0.1.:{port}/x",
        f"https://2130706433:{port}/x",
        f"https://0x7f.1:{port}/x",
        f"https://127.1:{port}/x",
        f"https://0177.0.0.1:{port}/x",
        f"https://%31%32%37.0.0.1:{port}/x",
        f"https://u:p@127.0.0.1:{port}/x",
        f"https://[::ffff:127.0.0.1]:{port}/x",
        f"https://[::127.0.0.1]:{port}/x",
        f"https://[::ffff:0:7f00:1]:{port}/x",
        f"https://[64:ff9b::7f00:1]:{port}/x",
        f"https://[2002:7f00:1::]:{port}/x",
        f"https://localhost:{port}/x",
        f"https://rebound.test:{port}/x",
        f"https://mixed.test:{port}/x",
    ]
    for url in forms:
        with pytest.raises(InvalidRequest) as refused:
            download(url, field=FIELD, what="the result", limit=1000)
        assert refused.value.field == FIELD, url
        with pytest.raises(InvalidRequest):
            safe_request("POST", url, field="webhook", deadline_s=5, data=b"{}")
    assert peer.accepts == 0
    # the listener does answer a form the policy accepts (with private URLs allowed)
    private_allowed_later()
    assert download(peer.url("/x"), field=FIELD, what="the result", limit=1000) == b"secret"
    assert peer.accepts == 1


# --- the connection goes to the checked address -------------------------------------------------


def test_dns_rebinding_cannot_move_the_connection(peers, resolver, connects, public_only):
    peer = peers(respond=answer(200, body=b"secret"))
    answers, calls = resolver
    answers["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]  # public when checked, loopback afterwards
    seen, _ = connects
    with pytest.raises(RequestFailed) as failed:
        download(f"https://rebind.test:{peer.port}/a.png", field=FIELD, what="the result", limit=1000)
    assert failed.value.retryable
    assert calls == ["rebind.test"]  # resolved once
    assert seen == [(PUBLIC, peer.port)]  # connected to the checked address only
    assert peer.accepts == 0


def test_the_checked_address_gets_the_request_with_the_urls_host(peers, resolver, private_allowed):
    peer = peers(respond=answer(200, body=b"ok"))
    answers, calls = resolver
    answers["pinned.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    answer_ = safe_request(
        "GET", f"http://pinned.test:{peer.port}/a%20b?x=1", field=FIELD, deadline_s=5, max_bytes=100
    )
    assert (answer_.status, answer_.body) == (200, b"ok")
    assert calls == ["pinned.test"]
    (request,) = peer.requests
    assert request.path == "/a%20b?x=1"
    assert request.headers["host"] == f"pinned.test:{peer.port}"


def test_each_checked_address_is_tried_in_turn(peers, resolver, private_allowed):
    peer = peers(respond=answer(200, body=b"ok"))
    answers, _ = resolver
    answers["two.test"] = [["127.0.0.2", "127.0.0.1"]]  # nothing listens on 127.0.0.2
    assert download(f"http://two.test:{peer.port}/", field=FIELD, what="x", limit=10) == b"ok"


def test_tls_uses_the_urls_name_on_the_checked_address(
    tmp_path, monkeypatch, peers, resolver, private_allowed
):
    server = tls_pair(tmp_path, monkeypatch, "good.test")
    peer = peers(respond=answer(200, body=b"image"), tls=server)
    answers, _ = resolver
    answers["good.test"] = [["127.0.0.1"]]
    answers["evil.test"] = [["127.0.0.1"]]
    url = peer.url("/a.png", scheme="https", host="good.test")
    assert download(url, field=FIELD, what="the result", limit=100) == b"image"
    assert peer.server_names == ["good.test"]
    assert peer.requests[0].headers["host"] == f"good.test:{peer.port}"
    # the certificate is checked against the URL's name, not the address connected to
    with pytest.raises(RequestFailed, match="SSLCertVerificationError"):
        download(peer.url(scheme="https", host="evil.test"), field=FIELD, what="x", limit=100)
    with pytest.raises(RequestFailed, match="SSLCertVerificationError"):
        download(peer.url(scheme="https"), field=FIELD, what="x", limit=100)
    assert len(peer.requests) == 1


# --- redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1:abc/x",
        "http://127.0.0.1:0/x",
        "https://[",
        "http://a\\@b/",
    ],
)
def test_a_redirect_to_a_bad_url_fails_cleanly(peers, private_allowed, location):
    peer = peers(respond=answer(302, {"Location": location}))
    with pytest.raises(InvalidRequest) as refused:
        download(peer.url(), field=FIELD, what="the result", limit=100)
    assert refused.value.field == FIELD
    assert refused.value.message.startswith(f"{FIELD}'s redirect ")


def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    tmp_path, monkeypatch, peers, resolver, connects, public_only
):
    inner = peers(respond=answer(200, body=b"secret"))
    server = tls_pair(tmp_path, monkeypatch, "public.test")
    outer = peers(respond=answer(302, {"Location": f"https://127.0.0.1:{inner.port}/secret"}), tls=server)
    answers, _ = resolver
    answers["public.test"] = [[PUBLIC]]
    seen, forward = connects
    forward[PUBLIC] = outer.port  # public.test "is" the loopback server
    with pytest.raises(InvalidRequest, match="redirect points to a private or loopback address"):
        download(f"https://public.test:{outer.port}/a.png", field=FIELD, what="x", limit=100)
    assert len(outer.requests) == 1 and inner.accepts == 0
    assert seen == [(PUBLIC, outer.port)]


def test_redirects_are_followed_up_to_the_limit(peers, private_allowed):
    peer = peers(respond=answer(302, {"Location": "/again"}))
    with pytest.raises(RequestFailed, match="redirects too often") as failed:
        download(peer.url(), field=FIELD, what="x", limit=100)
    assert not failed.value.retryable
    assert len(peer.requests) == MAX_REDIRECTS + 1


def test_a_followed_redirect_is_checked_and_fetched(peers, private_allowed):
    target = peers(respond=answer(200, body=b"image"))
    first = peers(respond=answer(301, {"Location": target.url("/b.png")}))
    assert download(first.url(), field=FIELD, what="x", limit=100) == b"image"
    assert [r.path for r in target.requests] == ["/b.png"]


def test_a_post_follows_no_redirect(peers, private_allowed):
    target = peers(respond=answer(200))
    peer = peers(respond=answer(307, {"Location": target.url()}))
    sent = safe_request(
        "POST",
        peer.url("/hook"),
        field="webhook",
        deadline_s=5,
        data=b'{"id":1}',
        headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
    )
    assert sent.status == 307 and sent.body == b""
    (request,) = peer.requests
    assert (request.method, request.body, request.headers["webhook-id"]) == ("POST", b'{"id":1}', "msg_1")
    assert target.accepts == 0


# --- sizes ----------------------------------------------------------------------------------------


def test_declared_and_streamed_sizes_over_the_limit(peers, private_allowed):
    declared = peers(respond=answer(200, body=b"x" * 101))
    with pytest.raises(ImageTooLarge) as too_large:
        download(declared.url(), field=FIELD, what="the result", limit=100)
    assert too_large.value.field == FIELD

    def chunked(conn, _request):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(b"40\r\n" + b"x" * 64 + b"\r\n" + b"40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n")

    streamed = peers(respond=chunked)
    with pytest.raises(ImageTooLarge):
        download(streamed.url(), field=FIELD, what="the result", limit=100)


def test_an_error_answer_is_not_read_as_the_image(peers, private_allowed):
    peer = peers(respond=answer(404, body=b"x" * 1000))
    with pytest.raises(RequestFailed, match=r"HTTP 404") as failed:
        download(peer.url(), field=FIELD, what="x", limit=100)
    assert not failed.value.retryable
    peer = peers(respond=answer(503))
    with pytest.raises(RequestFailed, match=r"HTTP 503") as failed:
        download(peer.url(), field=FIELD, what="x", limit=100)
    assert failed.value.retryable


# --- the total deadline ---------------------------------------------------------------------------

DEADLINE = 2.0


@pytest.mark.parametrize(
    ("stage", "slow"),
    [
        ("status line", {"respond": drip(b"HTTP/1.1 2", b"0")}),
        ("headers", {"respond": drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n")}),
        ("body", {"respond": drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x")}),
        ("nothing", {"respond": drip(b"", b"")}),
    ],
)
def test_a_slow_peer_is_cut_off_at_the_deadline(peers, private_allowed, stage, slow):
    peer = peers(**slow)
    for method, max_bytes in (("GET", 10_000), ("POST", None)):
        if stage == "body" and max_bytes is None:  # the body is not read: the status is the answer
            assert safe_request(method, peer.url(), field=FIELD, deadline_s=DEADLINE).status == 200
            continue
        started = time.monotonic()
        with pytest.raises(RequestFailed, match="did not answer within 2 s") as failed:
            safe_request(method, peer.url(), field=FIELD, deadline_s=DEADLINE, max_bytes=max_bytes, data=b"")
        elapsed = time.monotonic() - started
        assert failed.value.retryable
        assert DEADLINE - 0.1 <= elapsed < DEADLINE + 1.5, (stage, method, elapsed)


def test_a_slow_tls_handshake_is_cut_off_at_the_deadline(peers, private_allowed):
    # a TLS record header, then its body a byte at a time: every read gets data before its timeout
    peer = peers(on_connect=drip(b"\x16\x03\x03\x40\x00", b"\x00"))
    started = time.monotonic()
    with pytest.raises(RequestFailed, match="did not answer within 2 s"):
        download(peer.url(scheme="https"), field=FIELD, what="x", limit=100, deadline_s=DEADLINE)
    assert time.monotonic() - started < DEADLINE + 1.5


def test_the_deadline_covers_every_redirect_hop(peers, private_allowed):
    slow = peers(respond=drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"))
    first = peers(respond=answer(302, {"Location": slow.url()}))
    started = time.monotonic()
    with pytest.raises(RequestFailed, match="did not answer"):
        download(first.url(), field=FIELD, what="x", limit=100, deadline_s=DEADLINE)
    assert time.monotonic() - started < DEADLINE + 1.5


def test_a_host_that_does_not_resolve_is_a_retryable_failure(resolver, public_only):
    with pytest.raises(RequestFailed, match="does not resolve") as failed:
        safe_request("POST", "https://nowhere.test/hook", field="webhook", deadline_s=5)
    assert failed.value.retryable
