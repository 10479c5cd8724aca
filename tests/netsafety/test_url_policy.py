"""The URL policy (swapgate.netsafety) over a table of URL forms and addresses: every form is either
accepted with the host urllib3 connects to, or refused with an InvalidRequest naming the field;
nothing else ever escapes."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from swapgate.errors import InvalidRequest
from swapgate.netsafety import check_url, is_public, parse

FIELD = "source_image"

# (url, the host the connection uses) for forms the policy accepts without resolving
ACCEPTED = [
    ("https://good.example/a.png", "good.example"),
    ("HTTPS://GOOD.example/a.png", "good.example"),
    ("https://good.example./a.png", "good.example"),  # trailing dot: same name, no dot in TLS/Host
    ("https://good.example:8443/a.png", "good.example"),
    ("https://good.example:/a.png", "good.example"),  # empty port: the default
    ("https://good.example/a.png?x=@evil.example", "good.example"),
    ("https://good.example/a.png#@evil.example", "good.example"),
    ("https://good.example?@evil.example/", "good.example"),
    ("https://bücher.example/a.png", "xn--bcher-kva.example"),  # IDNA, as urllib3 encodes it
    ("https://xn--bcher-kva.example/a.png", "xn--bcher-kva.example"),
    ("https://cdn_1.good.example/a.png", "cdn_1.good.example"),
    ("https://123.good.example/a.png", "123.good.example"),
    ("https://1e100.net/", "1e100.net"),
    ("https://8.8.8.8/a.png", "8.8.8.8"),
    ("https://[2606:4700:4700::1111]/a.png", "2606:4700:4700::1111"),
    ("https://[64:ff9b::808:808]/a.png", "64:ff9b::808:808"),  # NAT64 of a public address
    ("https://[::ffff:8.8.8.8]/a.png", "::ffff:808:808"),  # IPv4-mapped public address
    ("https://good.example/a.png?q=ü", "good.example"),  # non-ASCII query: percent-encoded
]

PRIVATE = "points to a private or loopback address"
INVALID = "is not a valid URL"
NUMERIC = "has a numeric host that is not a dotted IPv4 address"
REFUSED = [
    # parser mismatch: urlsplit and urllib3 see different hosts
    ("https://127.0.0.1\\@good.example/x", "backslashes"),
    ("https://127.0.0.1\\@good.example:6379/x", "backslashes"),
    ("https://good.example\\.evil.example/", "backslashes"),
    ("https://user:pw@good.example/", "user name or password"),
    ("https://127.0.0.1@good.example/", "user name or password"),
    ("https://a@b@good.example/", "user name or password"),
    ("https://127.0.0.1%2f@good.example/", "user name or password"),
    ("https://%31%32%37.0.0.1/", "percent-encode"),  # urllib3 decodes it to 127.0.0.1
    ("https://[fe80::1%25eth0]/", "percent-encode"),  # IPv6 zone id
    ("https://[fe80::1%eth0]/", "percent-encode"),
    # numeric forms getaddrinfo reads as 127.0.0.1
    ("https://2130706433/", NUMERIC),
    ("https://0x7f000001/", NUMERIC),
    ("https://0x7f.1/", NUMERIC),
    ("https://0x7f.0x0.0x0.0x1/", NUMERIC),
    ("https://127.1/", NUMERIC),
    ("https://127.0.1/", NUMERIC),
    ("https://0177.0.0.1/", NUMERIC),
    ("https://017700000001/", NUMERIC),
    ("https://1.2.3.4.5/", NUMERIC),
    ("https://good.example.0x1/", NUMERIC),
    # literal addresses that are not public
    ("https://127.0.0.1/", PRIVATE),
    ("https://127.0.0.1./", PRIVATE),
    ("https://0.0.0.0/", PRIVATE),
    ("https://10.0.0.8/", PRIVATE),
    ("https://172.16.0.1/", PRIVATE),
    ("https://192.168.1.1/", PRIVATE),
    ("https://169.254.169.254/latest/meta-data/", PRIVATE),
    ("https://100.64.0.1/", PRIVATE),  # CGNAT
    ("https://192.0.2.1/", PRIVATE),  # TEST-NET-1
    ("https://198.18.0.1/", PRIVATE),  # benchmarking
    ("https://224.0.0.1/", PRIVATE),  # multicast
    ("https://240.0.0.1/", PRIVATE),  # reserved
    ("https://255.255.255.255/", PRIVATE),
    ("https://[::]/", PRIVATE),
    ("https://[::1]/", PRIVATE),
    ("https://[::ffff:127.0.0.1]/", PRIVATE),  # IPv4-mapped
    ("https://[::ffff:a9fe:a9fe]/", PRIVATE),
    ("https://[::127.0.0.1]/", PRIVATE),  # IPv4-compatible
    ("https://[::8.8.8.8]/", PRIVATE),  # IPv4-compatible is deprecated: refused whatever it embeds
    ("https://[::ffff:0:7f00:1]/", PRIVATE),  # IPv4-translated
    ("https://[64:ff9b::a9fe:a9fe]/", PRIVATE),  # NAT64 of the metadata address
    ("https://[64:ff9b::7f00:1]/", PRIVATE),
    ("https://[64:ff9b:1::a9fe:a9fe]/", PRIVATE),  # local-use NAT64
    ("https://[2002:7f00:1::]/", PRIVATE),  # 6to4 of 127.0.0.1
    ("https://[2002:808:808::]/", PRIVATE),  # 6to4 is deprecated: refused whatever it embeds
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", PRIVATE),  # Teredo
    ("https://[fec0::1]/", PRIVATE),  # site-local
    ("https://[fc00::1]/", PRIVATE),  # unique-local
    ("https://[fd00:ec2::254]/", PRIVATE),  # the EC2 metadata service over IPv6
    ("https://[fe80::1]/", PRIVATE),
    ("https://[ff02::1]/", PRIVATE),
    ("https://[2001:db8::1]/", PRIVATE),
    ("https://[100::1]/", PRIVATE),
    # local names
    ("https://localhost/", PRIVATE),
    ("https://localhost./", PRIVATE),
    ("https://LOCALHOST/", PRIVATE),
    ("https://api.localhost/", PRIVATE),
    ("https://printer.local/", PRIVATE),
    ("https://metadata.google.internal/", PRIVATE),
    # schemes
    ("http://good.example/a.png", "https URL"),
    ("ftp://good.example/a.png", "https URL"),
    ("file:///etc/passwd", "https URL"),
    ("gopher://good.example/", "https URL"),
    ("//good.example/a.png", "https URL"),
    ("good.example/a.png", "https URL"),
    # whitespace and control characters
    ("https://good.example/a b.png", "spaces"),
    (" https://good.example/a.png", "spaces"),
    ("https://good.example/a.png ", "spaces"),
    ("https://exa\tmple.com/", "spaces"),
    ("https://good.example/\r\nX-Injected: 1", "spaces"),
    ("https://good.example\x00.evil/", "spaces"),
    ("https://good.example/\u3000", "spaces"),
    # malformed hosts and ports
    ("https://[", INVALID),
    ("https://[::1/", INVALID),
    ("https://[not-an-ip]/", INVALID),
    ("https:///a.png", INVALID),
    ("https:good.example/a.png", INVALID),
    ("https://good.example:abc/", INVALID),
    ("https://good.example:99999/", INVALID),
    ("https://good.example:65536/", INVALID),
    ("https://good.example:-1/", INVALID),
    ("https://good.example:0/", "invalid port"),
    ("https://\uff10x7f.1/", INVALID),  # fullwidth digit: NFKC would make it 0x7f.1
    ("https://a\u2100b.example/", INVALID),  # NFKC-invalid: urlsplit raises
    ("https://good\uff0eexample\uff0f@evil/", INVALID),
    ("https://a\ud800.example/", INVALID),  # lone surrogate
    ("https://-bad.example/", "invalid host name"),
    ("https://bad-.example/", "invalid host name"),
    ("https://a..example/", "invalid host name"),
    ("https://" + "a" * 64 + ".example/", "invalid host name"),
    ("https://" + "a." * 127 + "example/", "invalid host name"),
    ("https://good.example/" + "a" * 2048, "longer than 2048"),
    ("", "must be a URL"),
]


@pytest.fixture(autouse=True)
def public_only(monkeypatch):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS", raising=False)


@pytest.mark.parametrize(("url", "host"), ACCEPTED)
def test_accepted_forms_connect_to_the_host_urllib3_parses(url, host):
    target = parse(url, FIELD)
    if ":" in host:  # how an IPv6 address is written differs between Python versions
        assert target.literal == ipaddress.ip_address(host)
    else:
        assert target.host == host
    assert check_url(url, FIELD, resolve=False) == url


@pytest.mark.parametrize(("url", "problem"), REFUSED)
def test_refused_forms_name_the_field(url, problem):
    with pytest.raises(InvalidRequest) as refused:
        check_url(url, FIELD, resolve=False)
    assert refused.value.field == FIELD
    assert problem in refused.value.message
    assert refused.value.message.startswith(FIELD)


@pytest.mark.parametrize("value", [None, 42, b"https://good.example/", ["https://good.example/"]])
def test_a_url_that_is_no_string_is_refused(value):
    with pytest.raises(InvalidRequest) as refused:
        check_url(value, FIELD)
    assert refused.value.field == FIELD


def test_no_exception_but_invalid_request_escapes():
    """Every one-character change to a few URLs: check_url accepts or raises InvalidRequest."""
    seeds = ["https://good.example:8443/a.png?x=1", "https://[2606:4700::1111]:443/a"]
    alphabet = "[]@:%\\/.?#0x\u3002\uff0e\u2100\ud800 \t\r\n"
    for seed in seeds:
        for i in range(len(seed) + 1):
            for c in alphabet:
                for url in (seed[:i] + c + seed[i:], seed[:i] + c + seed[i + 1 :]):
                    try:
                        check_url(url, FIELD, resolve=False)
                    except InvalidRequest as exc:
                        assert exc.field == FIELD


def test_the_request_target_is_what_urllib3_sends():
    target = parse("https://Good.Example:8443/a%20b/c.png?x=ü&y=1#frag", FIELD)
    assert (target.scheme, target.host, target.port) == ("https", "good.example", 8443)
    assert target.path == "/a%20b/c.png?x=%C3%BC&y=1"
    assert target.host_header == "good.example:8443"
    assert parse("https://good.example", FIELD).path == "/"
    assert parse("https://[2606:4700::1111]/", FIELD).host_header == "[2606:4700::1111]"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),
        ("::ffff:808:808", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("100.100.100.100", False),
        ("169.254.169.254", False),
        ("192.0.0.8", False),
        ("233.252.0.1", False),
        ("::1", False),
        ("::", False),
        ("::ffff:a9fe:a9fe", False),
        ("::a9fe:a9fe", False),
        ("::ffff:0:a9fe:a9fe", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b:1::1", False),
        ("2002:a9fe:a9fe::1", False),
        ("2001::1", False),
        ("fec0::1", False),
        ("fd12:3456::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("ff05::2", False),
    ],
)
def test_addresses(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def _resolver(monkeypatch, answers):
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_every_resolved_address_must_be_public(monkeypatch):
    _resolver(
        monkeypatch,
        {
            "public.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            "mixed.test": ["93.184.215.14", "10.0.0.1"],
            "nat64.test": ["64:ff9b::a9fe:a9fe"],
            "mapped.test": ["::ffff:127.0.0.1"],
        },
    )
    assert check_url("https://public.test/a.png", FIELD) == "https://public.test/a.png"
    for host in ("mixed.test", "nat64.test", "mapped.test"):
        with pytest.raises(InvalidRequest, match=PRIVATE):
            check_url(f"https://{host}/a.png", FIELD)
        check_url(f"https://{host}/a.png", FIELD, resolve=False)  # the form alone is fine
    with pytest.raises(InvalidRequest, match="does not resolve"):
        check_url("https://nowhere.test/a.png", FIELD)


def test_private_urls_allowed_admits_http_and_loopback_but_not_bad_forms(monkeypatch):
    monkeypatch.setenv("SWAPGATE_ALLOW_PRIVATE_URLS", "1")
    for url in ("http://127.0.0.1:8080/hook", "http://localhost:3000/x", "https://[::1]/x"):
        assert check_url(url, FIELD) == url
    for url in ("http://127.0.0.1\\@good.example/", "http://u@127.0.0.1/", "http://2130706433/", "ftp://x/"):
        with pytest.raises(InvalidRequest):
            check_url(url, FIELD)
