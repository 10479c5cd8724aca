"""Generated requests for what the OpenAPI document does not describe: the compatibility routes in both
body forms, provider callbacks (token forms, bodies), multipart framings, form bodies, base64 flags,
odd methods, paths, headers. Through the API Gateway emulator where API Gateway could send it, straight
to the handler where only a broken or hostile caller could. Every answer is under 500 and JSON."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

from fuzz_stack import API_KEY, OTHER_KEY, Target, callback_token, run_cases
from hypothesis import strategies as st
from support import api_event
from swapgate_dev.fakes import make_png

PNG = make_png("fuzz", 8)

#: the API function's routes that take a body, with their fields
BODY_ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/swaps": ("source_image", "face_image", "provider", "webhook"),
    "/v1/swaps/multi": ("source_image", "face_images", "indexes", "provider", "webhook"),
    "/v1/faces": ("image", "provider"),
    "/api/aifaceswap/v1/faceswap": ("source_image", "face_image", "webhook"),
    "/api/aifaceswap/v1/extract_face": ("img",),
    "/api/aifaceswap/v1/multi_faceswap": ("source_image", "face_image", "index", "webhook"),
    "/insightFace/v1/swap": ("targetImage", "swapImage", "hookUrl"),
    "/insightFace/v1/fetch": ("jobId",),
}
#: every route of the API and callback functions, as API Gateway declares them
ROUTES = [
    *(("POST", path) for path in BODY_ROUTES),
    ("GET", "/v1/swaps/{id}"),
    ("POST", "/v1/swaps/{id}/cancel"),
    ("POST", "/v1/uploads"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/docs"),
    ("GET", "/insightFace/v1/fetch"),
    ("POST", "/callbacks/{provider}/{job_id}"),
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "BREW"]

#: URL shapes that broke parsers, or that parsers disagree on
NASTY_URLS = [
    "https://[",
    "https://[::1",
    "http://[::1]:abc/x.png",
    "https://example.com:abc/a.png",
    "https://example.com:99999/a.png",
    "https://example.com:-1/a.png",
    "https://ex\uff03ample.com/a.png",  # NFKC makes it '#'
    "https://a\u2100b.example/x",  # NFKC makes it 'a/c'
    "https://127.0.0.1\\@good.example/x",
    "http://user:pass@/x",
    "http://",
    "//no-scheme/x.png",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "upload://",
    "upload://../../inbox/x",
    "upload://" + "a" * 200,
    "",
    " ",
    "\x00",
    "https://exa mple.com/a.png",
    "https://xn--/a.png",
    "https://" + "a" * 3000 + ".example/x",
]
#: lone surrogates and other text that is not storable or printable
NASTY_TEXT = ["\ud800", "a\udfffb", "\x00\x01", "\u202e", "😀" * 10, "é", "\r\n", "%00", "${jndi:x}"]


def text_value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY_URLS + NASTY_TEXT),
        st.text(max_size=30),
        st.text(st.characters(codec="utf-8", categories=["Cs", "Co", "Cc", "Zs", "Ll"]), max_size=10),
        st.integers(2040, 2100).map(lambda n: "https://e.example/" + "x" * n),
        st.just("x" * 460_000),  # the size that failed the DynamoDB put
    )


def json_value() -> st.SearchStrategy[Any]:
    scalar = st.one_of(
        text_value(),
        st.integers(),
        st.sampled_from([10**400, -(10**30), 2**63, True, False, None, 1e308, -0.0]),
        st.floats(allow_nan=False),
    )
    return st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )


def json_body(fields: tuple[str, ...]) -> st.SearchStrategy[Any]:
    known = st.dictionaries(st.sampled_from(fields), json_value(), max_size=len(fields))
    extra = st.dictionaries(text_value(), json_value(), max_size=2)
    return st.one_of(
        st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]}),
        known,
        json_value(),
    )


def raw_json_text() -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b"[]",
            b'{"jobId": ' + b"9" * 5000 + b"}",  # past Python's int digit limit
            b'{"source_image": "\\ud800"}',
            b"\xff\xfe{}",
            b'{"a": 1, "a": 2}',
            b"[" * 5000,  # deep nesting
            b'"' + b"x" * 100 + b'"',
        ]
    ) | st.binary(max_size=60)


# --- multipart ------------------------------------------------------------------------------------


@st.composite
def multipart(draw, fields: tuple[str, ...]) -> tuple[str, bytes]:
    """A Content-Type and a body: well-formed, or broken in one of the ways parsers trip on."""
    boundary = draw(st.sampled_from(["b0undary", "x" * 70, "a b", "=", "-"]))
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from(fields) | st.text(max_size=6))
        kind = draw(st.sampled_from(["text", "file", "bytes", "noheader", "badheader"]))
        value = draw(
            st.binary(max_size=20) | st.sampled_from([b"\xff\xfe\xfd", b"\xc3", PNG, b"0,1", b"https://["])
        )
        text = draw(text_value()).encode("utf-8", "surrogatepass")
        quoted = name.replace('"', "").encode("utf-8", "surrogatepass")
        if kind == "text":
            parts.append(b'Content-Disposition: form-data; name="' + quoted + b'"\r\n\r\n' + text)
        elif kind == "file":
            parts.append(
                b'Content-Disposition: form-data; name="' + quoted + b'"; filename="f.png"\r\n'
                b"Content-Type: image/png\r\n\r\n" + value
            )
        elif kind == "bytes":  # a text part that is not UTF-8
            parts.append(b'Content-Disposition: form-data; name="' + quoted + b'"\r\n\r\n' + value)
        elif kind == "noheader":
            parts.append(value)
        else:
            parts.append(b'Content-Disposition: form-data; name="\xff\xfe"\r\n\r\n' + value)
        if draw(st.booleans()):
            parts[-1] = parts[-1] + b"\r\n"
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    if draw(st.booleans()):
        body += delimiter + b"--\r\n"
    body = draw(
        st.sampled_from([body, body[: len(body) // 2], b"preamble\r\n" + body, body.replace(b"\r\n", b"\n")])
    )
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data; boundary=",
                'multipart/form-data; boundary=""',
                "multipart/form-data",
                f"multipart/form-data; Boundary={boundary}",
                f"multipart/form-data;boundary={boundary};charset=latin-1",
                f"multipart/form-data; boundary=other-{boundary}",
                f"multipart/mixed; boundary={boundary}",
                f"MULTIPART/FORM-DATA; boundary={boundary}",
            ]
        )
    )
    return content_type, body


# --- the tests ----------------------------------------------------------------------------------


def test_json_bodies(target: Target) -> None:
    run_cases(target, "json bodies", 400, st.data(), send_json)


def send_json(target: Target, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(BODY_ROUTES)))
    fields = BODY_ROUTES[path]
    if data.draw(st.integers(0, 4)) == 0:
        body = data.draw(raw_json_text())
    else:
        body = json.dumps(data.draw(json_body(fields))).encode()
    content_type = data.draw(
        st.sampled_from(
            ["application/json", "application/json; charset=utf-8", None, "text/plain", "application/JSON"]
        )
    )
    headers = {"x-api-key": API_KEY} | ({"Content-Type": content_type} if content_type else {})
    if data.draw(st.booleans()):
        headers["Idempotency-Key"] = data.draw(
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300)
        )
    target.send("json bodies", "POST", path, headers=headers, body=body)


def test_multipart_bodies(target: Target) -> None:
    run_cases(target, "multipart bodies", 300, st.data(), send_multipart)


def send_multipart(target: Target, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(BODY_ROUTES)))
    content_type, body = data.draw(multipart(BODY_ROUTES[path]))
    headers = {"x-api-key": API_KEY, "Content-Type": content_type}
    target.send("multipart bodies", "POST", path, headers=headers, body=body)


def test_form_bodies(target: Target) -> None:
    run_cases(target, "form bodies", 120, st.data(), send_form)


def send_form(target: Target, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(BODY_ROUTES)))
    fields = BODY_ROUTES[path]
    pairs = data.draw(
        st.lists(st.tuples(st.sampled_from(fields) | st.text(max_size=5), text_value()), max_size=6)
    )
    body = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs]).encode()
    if data.draw(st.booleans()):
        body += data.draw(st.sampled_from([b"&%ff%fe=%c3", b"&a=%ZZ", b"&&&=", b"\xff"]))
    headers = {"x-api-key": API_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    target.send("form bodies", "POST", path, headers=headers, body=body)


def _callback_body(provider: str, data: st.DataObject) -> tuple[bytes, str | None]:
    shapes = {
        "aifaceswap": {"task_id": json_value(), "success": json_value(), "result_image": json_value()},
        "ttapi": {"status": json_value(), "jobId": json_value(), "data": json_value()},
        "local": {"job_id": json_value(), "state": json_value(), "result_url": json_value()},
    }
    shape = shapes.get(provider, {"x": json_value()})
    kind = data.draw(st.sampled_from(["json", "form", "raw"]))
    if kind == "json":
        body = json.dumps(data.draw(st.fixed_dictionaries({}, optional=shape))).encode()
        return body, data.draw(st.sampled_from(["application/json", None]))
    if kind == "form":
        values = data.draw(st.dictionaries(st.sampled_from(list(shape)), text_value(), max_size=3))
        body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in values.items()}).encode()
        return body, "application/x-www-form-urlencoded"
    content_type = data.draw(st.sampled_from(["application/octet-stream", "image/png", "text/plain", None]))
    return data.draw(raw_json_text()), content_type


def test_provider_callbacks(target: Target) -> None:
    run_cases(target, "callbacks", 400, st.data(), send_callback)


def send_callback(target: Target, data: st.DataObject) -> None:
    provider = data.draw(st.sampled_from(["aifaceswap", "ttapi", "local", "nope", "AIFACESWAP"]))
    real = list(target.job_ids.values())
    job_id = data.draw(
        st.sampled_from(real)
        | st.text(st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=80)
    )
    token = data.draw(
        st.one_of(
            st.just(callback_token(job_id)),
            st.sampled_from(real).map(callback_token),
            st.text(max_size=70),
            st.sampled_from(["", "é" * 64, "\u0100" * 64, "0" * 64, "%ff"]),
            st.none(),
        )
    )
    query = (
        ""
        if token is None
        else "?"
        + data.draw(
            st.sampled_from(
                [
                    urlencode({"token": token.encode("utf-8", "surrogatepass")}),
                    f"token=a&token={quote(token.encode('utf-8', 'surrogatepass'))}",
                    "token",
                    "token=%ff%fe",
                ]
            )
        )
    )
    body, content_type = _callback_body(provider, data)
    headers = {"Content-Type": content_type} if content_type else {}
    path = f"/callbacks/{quote(provider)}/{quote(job_id.encode('utf-8', 'surrogatepass'), safe='')}{query}"
    target.send("callbacks", "POST", path, headers=headers, body=body)


def test_odd_methods_and_paths(target: Target) -> None:
    run_cases(target, "methods and paths", 300, st.data(), send_odd)


def send_odd(target: Target, data: st.DataObject) -> None:
    method, template = data.draw(st.sampled_from(ROUTES))
    method = data.draw(st.sampled_from([method, *METHODS]))
    segment = st.one_of(
        st.sampled_from(["job_" + "0" * 32, "", "..", "%2F", "%00", "%ED%A0%80", "%ff", " ", "a" * 300]),
        st.text(st.characters(codec="ascii", exclude_characters="/?#%"), max_size=12),
    )
    path = template.replace("{id}", data.draw(segment)).replace("{job_id}", data.draw(segment))
    path = path.replace("{provider}", data.draw(st.sampled_from(["ttapi", "x", ""])))
    path = data.draw(
        st.sampled_from(
            [path, path + "/", path + "/extra", "//" + path.lstrip("/"), path.upper(), path + "%"]
        )
    )
    query = data.draw(st.sampled_from(["", "?jobId=", "?jobId=%ff", "?format=json", "?a=1&a=2", "?token=é"]))
    headers = data.draw(
        st.sampled_from(
            [
                {"x-api-key": API_KEY},
                {"x-api-key": OTHER_KEY},
                {},
                {"Authorization": "Bearer " + API_KEY},
                {"Authorization": "Bearer"},
                {"TT-API-KEY": API_KEY, "Content-Type": "application/json"},
                {"x-api-key": "é".encode().decode("latin-1")},
                {"x-api-key": API_KEY, "Content-Type": "multipart/form-data; boundary="},
            ]
        )
    )
    body = data.draw(st.sampled_from([None, b"{}", b"\xff", b"x" * 1000]))
    target.send("methods and paths", method, path + query, headers=headers, body=body)


# --- events only a broken or hostile caller makes --------------------------------------------------


@st.composite
def odd_event(draw) -> tuple[str, dict]:
    method, template = draw(st.sampled_from(ROUTES))
    path = template.replace("{id}", "job_" + "0" * 32).replace("{job_id}", "job_" + "0" * 32)
    path = path.replace("{provider}", "ttapi")
    fields = BODY_ROUTES.get(path, ("x",))
    headers = {"x-api-key": API_KEY}
    event = api_event(method, path, resource=template, headers=headers)
    kind = draw(st.sampled_from(["base64", "text", "headers", "path", "query", "shape"]))
    if kind == "base64":  # the flag and the body disagree
        content_type = draw(
            st.sampled_from(["application/json", "multipart/form-data; boundary=b", "image/png", ""])
        )
        event["headers"]["Content-Type"] = content_type
        raw = json.dumps(draw(json_body(fields))).encode()
        event["body"] = draw(
            st.sampled_from(
                [
                    "not base64!",
                    "YQ",  # bad padding
                    "é",
                    base64.b64encode(b"\xff\xfe" + raw).decode(),
                    base64.b64encode(raw).decode(),
                    base64.b64encode(
                        b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\xff\r\n--b--'
                    ).decode(),
                    "",
                ]
            )
        )
        event["isBase64Encoded"] = draw(st.booleans())
    elif kind == "text":  # a multipart or JSON body as text, with characters a byte cannot hold
        event["headers"]["Content-Type"] = draw(
            st.sampled_from(["multipart/form-data; boundary=b", "application/json"])
        )
        event["body"] = draw(
            st.sampled_from(
                [
                    '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n€\r\n--b--',
                    '{"webhook": "\ud800"}',
                    "\ud800",
                ]
            )
        )
        event["isBase64Encoded"] = False
    elif kind == "headers":
        value = draw(text_value())
        name = draw(
            st.sampled_from(["x-api-key", "Content-Type", "Idempotency-Key", "Authorization", "TT-API-KEY"])
        )
        event["headers"] = {**(event["headers"] or {}), name: value}
        if draw(st.booleans()):
            event["headers"] = None
            event["multiValueHeaders"] = None
    elif kind == "path":
        value = draw(text_value())
        event["path"] = (
            template.replace("{id}", value).replace("{job_id}", value).replace("{provider}", value)
        )
        event["pathParameters"] = {"id": value, "job_id": value, "provider": value}
    elif kind == "query":
        value = draw(text_value())
        event["queryStringParameters"] = {"jobId": value, "token": value}
        event["multiValueQueryStringParameters"] = {"jobId": [value, value], "token": [value]}
    else:
        event["httpMethod"] = draw(st.sampled_from([*METHODS, "", "get"]))
        event["path"] = draw(st.sampled_from([path, "", "/", path + "//", "/v1/swaps/" + "\ud800"]))
    function = "CallbackFunction" if template.startswith("/callbacks/") else "ApiFunction"
    return function, event


def test_events_api_gateway_would_not_send(target: Target) -> None:
    run_cases(target, "direct events", 400, odd_event(), invoke_event)


def invoke_event(target: Target, case: tuple[str, dict]) -> None:
    function, event = case
    target.invoke("direct events", function, event)
