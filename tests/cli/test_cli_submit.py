"""swapgate swap / multi / faces: what reaches the API (fields, files, key, uploads) and what is printed."""

from __future__ import annotations

import json

from cli_fakeapi import API_KEY, FACES
from swapgate_cli import images

SOURCE = FACES / "two_faces.jpg"
FACE = FACES / "grace_hopper.jpg"
OTHER = FACES / "astronaut.png"


def test_swap_two_files_sends_multipart_with_the_key_and_prints_the_id(api, run, capsys):
    code = run("swap", str(SOURCE), str(FACE), "--provider", "local", "--webhook", "https://hook.example/x")
    out, err = capsys.readouterr()
    assert code == 0, err
    (request,) = api.of("POST", "/v1/swaps")
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers.get("idempotency-key")
    parts = {p.name: p for p in request.parts}
    assert [p.name for p in request.parts] == ["source_image", "face_image", "provider", "webhook"]
    assert parts["source_image"].data == SOURCE.read_bytes()
    assert parts["source_image"].filename == "two_faces.jpg"
    assert parts["source_image"].content_type == "image/jpeg"
    assert parts["face_image"].data == FACE.read_bytes()
    assert parts["provider"].filename is None and parts["provider"].text == "local"
    assert parts["webhook"].text == "https://hook.example/x"
    assert out == "job0001\n"
    assert API_KEY not in out + err


def test_swap_two_urls_sends_json_and_prints_the_answer_with_json(api, run, capsys):
    source, face = "https://img.example/a.jpg", "http://127.0.0.1:9/b.png"
    assert run("swap", source, face, "--json") == 0
    (request,) = api.of("POST", "/v1/swaps")
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"source_image": source, "face_image": face}
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"id": "job0001", "status": "queued", "provider": "local", "points": 1}


def test_swap_mixes_a_url_and_a_file_in_one_multipart_body(api, run):
    assert run("swap", "https://img.example/a.jpg", str(OTHER)) == 0
    (request,) = api.of("POST", "/v1/swaps")
    source, face = request.parts
    assert (source.name, source.filename, source.text) == ("source_image", None, "https://img.example/a.jpg")
    assert (face.name, face.filename, face.content_type) == ("face_image", "astronaut.png", "image/png")
    assert face.data == OTHER.read_bytes()


def test_swap_passes_upload_references_on(api, run):
    assert run("swap", "upload://abc123", "upload://def456") == 0
    assert api.of("POST", "/v1/swaps")[0].json == {
        "source_image": "upload://abc123",
        "face_image": "upload://def456",
    }


def _big_jpeg(tmp_path, size=5 * 1024 * 1024 + 17):
    data = b"\xff\xd8\xff\xe0" + bytes(range(256)) * (size // 256)
    path = tmp_path / "big.jpg"
    path.write_bytes(data[:size])
    return path


def test_a_large_file_goes_through_a_presigned_post_without_the_key(api, run, tmp_path, capsys):
    big = _big_jpeg(tmp_path)
    assert run("swap", str(big), str(FACE)) == 0
    order = [(r.method, r.path) for r in api.requests]
    assert order == [("POST", "/v1/uploads"), ("POST", "/bucket"), ("POST", "/v1/swaps")]
    ticket_request, bucket_post, swap = api.requests
    assert ticket_request.headers["x-api-key"] == API_KEY
    assert "x-api-key" not in bucket_post.headers
    parts = api.uploads["uploads/up0001"]
    assert [p.name for p in parts] == ["key", "policy", "x-amz-signature", "Content-Type", "file"]
    assert parts[3].text == "image/jpeg"
    assert parts[-1].data == big.read_bytes() and parts[-1].filename == "big.jpg"
    source, face = swap.parts
    assert (source.name, source.filename, source.text) == ("source_image", None, "upload://up0001")
    assert face.name == "face_image" and face.data == FACE.read_bytes()
    assert "uploading" in capsys.readouterr().err


def test_files_that_together_exceed_the_inline_limit_upload_the_largest(api, run, tmp_path, monkeypatch):
    monkeypatch.setattr(images, "INLINE_LIMIT", OTHER.stat().st_size + FACE.stat().st_size - 1)
    assert run("swap", str(OTHER), str(FACE)) == 0
    assert [r.path for r in api.requests] == ["/v1/uploads", "/bucket", "/v1/swaps"]
    assert api.uploads["uploads/up0001"][-1].data == OTHER.read_bytes()  # the larger one
    source, face = api.of("POST", "/v1/swaps")[0].parts
    assert source.text == "upload://up0001" and face.data == FACE.read_bytes()


def test_a_file_over_the_apis_max_bytes_is_refused_before_uploading(api, run, tmp_path, capsys):
    big = _big_jpeg(tmp_path)
    api.max_bytes = 5 * 1024 * 1024
    assert run("swap", str(big), str(FACE)) == 1
    err = capsys.readouterr().err
    assert "big.jpg" in err and "up to 5.0 MB" in err
    assert api.of("POST", "/bucket") == [] and api.of("POST", "/v1/swaps") == []


def test_a_refused_presigned_post_reports_the_storage_error(api, run, tmp_path, capsys):
    big = _big_jpeg(tmp_path)
    api.answer_once(
        "POST", "/bucket", 403, b"<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>"
    )
    assert run("swap", str(big), str(FACE)) == 1
    err = capsys.readouterr().err
    assert "error: the upload of" in err and "AccessDenied: Policy expired" in err
    assert api.of("POST", "/v1/swaps") == []


def test_a_large_file_that_is_no_image_is_not_uploaded(api, run, tmp_path, capsys):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    assert run("swap", str(blob), str(FACE)) == 2
    assert "blob.bin is not a JPEG, PNG or WebP image" in capsys.readouterr().err
    assert api.of("POST", "/bucket") == []


def test_multi_sends_repeated_face_images_and_indexes_in_order(api, run, capsys):
    code = run(
        "multi", str(SOURCE), "--face", str(OTHER), "--index", "1", "--face", str(FACE), "--index", "0"
    )
    assert code == 0
    (request,) = api.of("POST", "/v1/swaps/multi")
    parts = request.parts
    assert [p.name for p in parts] == ["source_image", "face_images", "face_images", "indexes", "indexes"]
    assert parts[0].data == SOURCE.read_bytes()
    assert parts[1].data == OTHER.read_bytes() and parts[2].data == FACE.read_bytes()
    assert [parts[3].text, parts[4].text] == ["1", "0"]
    assert capsys.readouterr().out == "job0001\n"


def test_multi_with_urls_sends_json_arrays(api, run):
    faces = ["https://img.example/1.png", "https://img.example/2.png"]
    argv = ["multi", "https://img.example/s.jpg", "--provider", "ttapi"]
    argv += ["--face", faces[0], "--index", "2", "--face", faces[1], "--index", "0"]
    assert run(*argv) == 0
    assert api.of("POST", "/v1/swaps/multi")[0].json == {
        "source_image": "https://img.example/s.jpg",
        "face_images": faces,
        "indexes": [2, 0],
        "provider": "ttapi",
    }


def test_faces_prints_one_box_per_line_with_its_index(api, run, capsys):
    assert run("faces", str(SOURCE)) == 0
    assert capsys.readouterr().out == "0: 10,20,110,140\n1: 200,25,290,150\n"
    (part,) = api.of("POST", "/v1/faces")[0].parts
    assert part.name == "image" and part.data == SOURCE.read_bytes()


def test_faces_json_and_by_url(api, run, capsys):
    assert run("faces", "https://img.example/s.jpg", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"faces": api.faces, "points": 0}
    assert api.of("POST", "/v1/faces")[0].json == {"image": "https://img.example/s.jpg"}


def test_faces_none_found_says_so_on_stderr(api, run, capsys):
    api.faces = []
    assert run("faces", str(FACES / "no_face_cat.png")) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no faces found" in err


def test_a_429_is_retried_after_retry_after_with_the_same_body_and_idempotency_key(api, run, capsys):
    api.answer_once(
        "POST", "/v1/swaps", 429, {"error": {"code": "rate_limited", "message": "slow"}}, {"Retry-After": "0"}
    )
    assert run("swap", str(SOURCE), str(FACE)) == 0
    first, second = api.of("POST", "/v1/swaps")
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert capsys.readouterr().out == "job0001\n"


def test_each_invocation_has_its_own_idempotency_key(api, run):
    assert run("swap", "https://a.example/1.jpg", "https://a.example/2.jpg") == 0
    assert run("swap", "https://a.example/1.jpg", "https://a.example/2.jpg") == 0
    first, second = api.of("POST", "/v1/swaps")
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
