"""Manifest parsing and outbox names (pure functions, no AWS)."""

from __future__ import annotations

import json

import pytest
from swapgate.inbox.manifest import ManifestInvalid, is_manifest_key, outbox_key, parse_manifest
from swapgate.providers.base import Operation


def parse(document) -> object:
    return parse_manifest(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("key", "result", "error"),
    [
        ("inbox/batch1.json", "outbox/batch1.result.json", "outbox/batch1.error.json"),
        ("inbox/a/b/c.JSON", "outbox/a/b/c.result.json", "outbox/a/b/c.error.json"),
        ("inbox/my batch (1).json", "outbox/my batch (1).result.json", "outbox/my batch (1).error.json"),
    ],
)
def test_outbox_names(key, result, error):
    assert outbox_key(key, "result") == result and outbox_key(key, "error") == error


@pytest.mark.parametrize(
    ("key", "manifest"),
    [
        ("inbox/batch.json", True),
        ("inbox/deep/er/batch.Json", True),
        ("inbox/photo.jpg", False),
        ("inbox/.json", False),
        ("inbox/folder/", False),
        ("outbox/batch.json", False),
        ("uploads/batch.json", False),
    ],
)
def test_which_keys_are_manifests(key, manifest):
    assert is_manifest_key(key) is manifest


def test_single_job_and_multi_swap_forms():
    single = parse(
        {"source_image": "inbox/a.jpg", "face_image": "https://x.example/f.png", "provider": "ttapi"}
    )
    assert not single.batch and single.problems == []
    (job,) = single.jobs
    assert job.operation is Operation.SWAP and job.provider == "ttapi"

    multi = parse(
        {"source_image": "inbox/a.jpg", "face_images": ["inbox/f1.jpg", "inbox/f2.jpg"], "indexes": [2, 0]}
    )
    (job,) = multi.jobs
    assert job.operation is Operation.MULTI_SWAP and job.indexes == [2, 0]


def test_batch_form_keeps_order_and_names_fields_by_index():
    manifest = parse(
        {
            "jobs": [
                {"source_image": "inbox/1.jpg", "face_image": "inbox/f.jpg"},
                {"source_image": "inbox/2.jpg"},
                {"source_image": "inbox/3.jpg", "face_image": "inbox/f.jpg", "face_images": ["inbox/f.jpg"]},
                "not an object",
                {"source_image": "inbox/5.jpg", "face_images": [], "indexes": [0]},
                {"source_image": "inbox/6.jpg", "face_image": "inbox/f.jpg", "indexes": [0]},
                {"source_image": "inbox/7.jpg", "face_images": ["inbox/f.jpg"], "indexes": ["0"]},
            ]
        }
    )
    assert manifest.batch
    assert manifest.jobs[0].source_image == "inbox/1.jpg"
    assert manifest.jobs[1:] == [None] * 6
    fields = [(p.job, p.field) for p in manifest.problems]
    assert fields == [
        (1, "jobs[1].face_image"),
        (2, "jobs[2].face_images"),
        (3, "jobs[3]"),
        (4, "jobs[4].face_images"),
        (5, "jobs[5].indexes"),
        (6, "jobs[6].indexes[0]"),
    ]
    assert manifest.problems[0].message == "jobs[1].face_image is required"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b'{"jobs": [', "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b'"a string"', "must be a JSON object"),
        (b'{"jobs": {}}', "jobs must be a list"),
    ],
)
def test_unusable_documents(data, message):
    with pytest.raises(ManifestInvalid) as invalid:
        parse_manifest(data)
    (problem,) = invalid.value.problems
    assert message in problem.message and problem.job is None


def test_byte_order_mark_is_accepted():
    manifest = parse_manifest(
        b"\xef\xbb\xbf" + json.dumps({"source_image": "a.jpg", "face_image": "b.jpg"}).encode()
    )
    assert manifest.problems == []
