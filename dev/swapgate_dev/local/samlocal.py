"""Assets for ``sam local`` (for users with Docker), generated from ``template.yaml``.

* ``env.json``: ``sam local`` resolves ``!Ref Bucket`` and friends to logical ids, and passes only
  the variables the template declares. So the file overrides exactly the declared variables whose
  template value names a resource, with the matching output of a deployed stack (the template's
  ``Outputs`` entry with the same value): ``--stack NAME`` reads them with CloudFormation's
  ``DescribeStacks``; without it they are ``<OutputName output of your stack>`` placeholders.
  ``Parameters`` holds what every function shares; a function's own entry the rest.
* Events under ``tests/events/``: one API Gateway proxy event per route (built by the same code as
  the local API, with fixed ids and times), and the poller's two task inputs.

``python -m swapgate_dev.local.samlocal env [--stack swapgate-dev]`` prints ``env.json``;
``python -m swapgate_dev.local.samlocal events`` (re)writes the event files; ``--check`` on either
fails when the committed files differ from what the template gives.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from swapgate_dev.local.apigw import api_settings, proxy_event
from swapgate_dev.local.sam import SERVERLESS_FUNCTION, SamTemplate
from swapgate_dev.local.settings import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "tests" / "events"
ENV_FILE = REPO_ROOT / "env.json"
API_KEY = "local-dev-key"
JOB_ID = "job_0123456789abcdef0123456789abcdef"
SOURCE_URL = "https://example.com/images/source.jpg"
FACE_URL = "https://example.com/images/face.jpg"
FIXED_EPOCH_MS = 1768472430123  # 2026-01-15T10:20:30.123Z

# Sample requests per route (the template's Api event ids): method and path come from the template.
SAMPLES: dict[str, dict[str, Any]] = {
    "CreateSwap": {"json": {"source_image": SOURCE_URL, "face_image": FACE_URL}},
    "CreateMultiSwap": {
        "json": {"source_image": SOURCE_URL, "face_images": [FACE_URL, FACE_URL], "indexes": [0, 1]}
    },
    "DetectFaces": {"json": {"image": SOURCE_URL}},
    "GetSwap": {"path": {"id": JOB_ID}},
    "CancelSwap": {"path": {"id": JOB_ID}},
    "CreateUpload": {},
    "OpenApiDocument": {},
    "SwaggerUi": {"headers": {"Accept": "text/html"}},
    "AifaceswapFaceswap": {
        "auth": "bearer",
        "json": {"source_image": SOURCE_URL, "face_image": FACE_URL, "webhook": "https://example.com/hook"},
    },
    "AifaceswapExtractFace": {"auth": "bearer", "json": {"img": SOURCE_URL}},
    "AifaceswapMultiFaceswap": {
        "auth": "bearer",
        "json": {"source_image": SOURCE_URL, "face_image": [FACE_URL, FACE_URL], "index": [0, 2]},
    },
    "TtapiSwap": {"auth": "ttapi", "json": {"targetImage": SOURCE_URL, "swapImage": FACE_URL}},
    "TtapiFetchPost": {"auth": "ttapi", "json": {"jobId": JOB_ID}},
    "TtapiFetchGet": {"auth": "ttapi", "query": {"jobId": JOB_ID}},
    "ProviderCallback": {
        "auth": "none",
        "path": {"provider": "ttapi", "job_id": JOB_ID},
        "query": {"token": "replace-with-the-callback-token"},
        "json": {
            "status": "SUCCESS",
            "jobId": "SWAP-FACE-171383611748093575",
            "data": {
                "jobId": "SWAP-FACE-171383611748093575",
                "cdnImage": "https://cdn.example.com/result.png",
            },
        },
    },
}

POLL_EVENTS = {
    "poll_task.json": {
        "action": "poll",
        "job_id": JOB_ID,
        "interval_seconds": 30,
        "max_interval_seconds": 300,
        "deadline": FIXED_EPOCH_MS // 1000 + 1800,
        "deadline_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(FIXED_EPOCH_MS // 1000 + 1800)),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(FIXED_EPOCH_MS // 1000)),
    },
    "poll_time_out.json": {"action": "time_out", "job_id": JOB_ID},
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _function_prefix(logical_id: str) -> str:
    return _snake(logical_id.removesuffix("Function"))


def api_events(template: SamTemplate) -> dict[str, dict[str, Any]]:
    """File name -> API Gateway proxy event, one per route of the template."""
    settings = api_settings(template)
    events = {}
    for declared in template.api_routes():
        sample = SAMPLES.get(declared.event_id, {})
        path = declared.path
        for name, value in (sample.get("path") or {}).items():
            path = path.replace("{" + name + "}", value)
        query = "&".join(f"{k}={v}" for k, v in (sample.get("query") or {}).items())
        headers = [("Host", "localhost:3000"), ("User-Agent", "sam-local-example")]
        auth = sample.get("auth", "x-api-key")
        if auth == "x-api-key":
            headers.append(("x-api-key", API_KEY))
        elif auth == "bearer":
            headers.append(("Authorization", f"Bearer {API_KEY}"))
        elif auth == "ttapi":
            headers.append(("TT-API-KEY", API_KEY))
        headers.extend((sample.get("headers") or {}).items())
        body = b""
        if "json" in sample:
            body = json.dumps(sample["json"]).encode()
            headers.append(("Content-Type", "application/json"))
        event = proxy_event(
            declared.method if declared.method != "ANY" else "GET",
            path + (f"?{query}" if query else ""),
            headers,
            body,
            resource=declared.path,
            path_parameters=sample.get("path") or {},
            stage=settings.stage,
            binary_types=settings.binary_media_types,
            source_ip="127.0.0.1",
            default_host="127.0.0.1:3000",
        )
        context = event["requestContext"]
        context["requestId"] = context["extendedRequestId"] = f"example-{_snake(declared.event_id)}"
        context["requestTimeEpoch"] = FIXED_EPOCH_MS
        context["requestTime"] = "15/Jan/2026:10:20:30 +0000"
        events[f"{_function_prefix(declared.function_id)}_{_snake(declared.event_id)}.json"] = event
    return events


def all_events(template: SamTemplate) -> dict[str, dict[str, Any]]:
    return {**api_events(template), **POLL_EVENTS}


def _resource_reference(value: Any, resources: set[str]) -> bool:
    """Whether a template value refers to a resource (which ``sam local`` cannot resolve)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"] in resources
        if "Fn::GetAtt" in value:
            return True
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            names = {name.split(".")[0] for name in re.findall(r"\$\{([^}!][^}]*)\}", text)}
            return bool(names & resources)
        return any(_resource_reference(item, resources) for item in value.values())
    if isinstance(value, list):
        return any(_resource_reference(item, resources) for item in value)
    return False


def _when_present(value: Any) -> Any:
    """``!If [condition, value, ""]`` (a resource that may be left out) as its value when it is there."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        _, present, absent = value["Fn::If"]
        if absent in ("", {"Ref": "AWS::NoValue"}):
            return present
    return value


def env_overrides(template: SamTemplate) -> dict[str, dict[str, str]]:
    """Function logical id -> {variable: output name} for the declared variables naming a resource."""
    resources = set(template.resources)
    outputs = template.document.get("Outputs") or {}
    overrides: dict[str, dict[str, str]] = {}
    for logical_id, function in template.functions().items():
        for name, value in function.environment.items():
            if not _resource_reference(value, resources):
                continue
            value = _when_present(value)
            output = next((key for key, spec in outputs.items() if spec.get("Value") == value), None)
            if output is None:
                raise ValueError(f"{logical_id}.{name} names a resource but no template output has its value")
            overrides.setdefault(logical_id, {})[name] = output
    return overrides


def env_json(template: SamTemplate, outputs: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` file: shared values under ``Parameters``, the rest per function."""
    overrides = env_overrides(template)
    functions = [lid for lid, r in template.resources.items() if r.get("Type") == SERVERLESS_FUNCTION]

    def value(output: str) -> str:
        if outputs and output in outputs:
            return outputs[output]
        return f"<{output} output of your stack>"

    shared = {
        name: output
        for name, output in (overrides.get(functions[0]) or {}).items()
        if all((overrides.get(fn) or {}).get(name) == output for fn in functions)
    }
    result: dict[str, dict[str, str]] = {
        "Parameters": {name: value(out) for name, out in sorted(shared.items())}
    }
    for function in functions:
        own = {
            name: value(out)
            for name, out in sorted((overrides.get(function) or {}).items())
            if name not in shared
        }
        if own:
            result[function] = own
    return result


def stack_outputs(stack_name: str, region: str | None = None) -> dict[str, str]:
    import boto3

    stack = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)[
        "Stacks"
    ][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m swapgate_dev.local.samlocal", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["env", "events"])
    parser.add_argument("--template", default=str(REPO_ROOT / "template.yaml"))
    parser.add_argument("--stack", help="fill env.json from this deployed stack's outputs")
    parser.add_argument("--region")
    parser.add_argument("--check", action="store_true", help="fail if the committed files are out of date")
    args = parser.parse_args(argv)
    template = SamTemplate(args.template)
    if args.what == "env":
        text = _dump(env_json(template, stack_outputs(args.stack, args.region) if args.stack else None))
        if args.check:
            if not ENV_FILE.is_file() or ENV_FILE.read_text(encoding="utf-8") != text:
                print(f"{ENV_FILE} is out of date: python -m swapgate_dev.local.samlocal env > env.json")
                return 1
            return 0
        sys.stdout.write(text)
        return 0
    stale = []
    for name, event in all_events(template).items():
        path, text = EVENTS_DIR / name, _dump(event)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            EVENTS_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + " (python -m swapgate_dev.local.samlocal events)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
