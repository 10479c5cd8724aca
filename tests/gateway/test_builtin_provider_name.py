"""The API names the built-in engine `builtin` and still accepts its former name, `local`."""

from __future__ import annotations

import pytest


def test_openapi_lists_the_canonical_names(deployment):
    spec = deployment.api("GET", "/v1/openapi.json", key=None).body
    enums = []
    for schema in spec["components"]["schemas"].values():
        provider = (schema.get("properties") or {}).get("provider")
        if provider:
            enums += [option["enum"] for option in [provider, *provider.get("anyOf", [])] if "enum" in option]
    assert enums and all(enum == ["aifaceswap", "ttapi", "builtin"] for enum in enums)


@pytest.mark.parametrize("model", ["SwapRequest", "MultiSwapRequest", "FacesRequest"])
def test_local_is_read_as_builtin(deployment, model):
    request_model = getattr(deployment.api_module, model)
    fields = {
        "SwapRequest": {"source_image": "https://a/s.png", "face_image": "https://a/f.png"},
        "MultiSwapRequest": {
            "source_image": "https://a/s.png",
            "face_images": ["https://a/f.png"],
            "indexes": [0],
        },
        "FacesRequest": {"image": "https://a/s.png"},
    }[model]
    assert request_model(**fields, provider="local").provider == "builtin"
    assert request_model(**fields, provider="builtin").provider == "builtin"


def test_an_unknown_name_is_still_refused(deployment, face_bytes):
    answer = deployment.api(
        "POST",
        "/v1/faces",
        files={"image": ("two.jpg", face_bytes["two_faces.jpg"], "image/jpeg")},
        data={"provider": "locals"},
    )
    assert answer.status in (400, 422), answer.body
    assert answer.body["error"]["field"] == "provider"
