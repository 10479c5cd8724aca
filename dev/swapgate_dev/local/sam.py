"""The parts of a SAM template the local stack runs: functions (with ``Globals`` applied), their
``Api`` routes and ``SQS`` event sources, and the ``AWS::Serverless::Api`` settings.

Values stay unresolved here (intrinsics in long form); ``Resolver`` evaluates them once the
resources exist.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swapgate_dev.local.cfn import TemplateError, load_template

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_API = "AWS::Serverless::Api"
IMPLICIT_API = "ServerlessRestApi"  # the API SAM creates for Api events without RestApiId
# Lists SAM replaces rather than concatenates (samtranslator's Globals merge schema).
REPLACED_BY_RESOURCE = {("Function", "Architectures")}


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge (the resource wins), lists concatenate (but for
    ``REPLACED_BY_RESOURCE``), scalars are replaced."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return copy.deepcopy(local_value)
        merged = copy.deepcopy(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return copy.deepcopy(global_value) + copy.deepcopy(local_value)
    return copy.deepcopy(local_value)


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


@dataclass(frozen=True)
class ApiRoute:
    function_id: str
    event_id: str
    path: str  # as declared, e.g. /v1/swaps/{id}
    method: str  # upper case, or ANY
    api_id: str


@dataclass(frozen=True)
class SqsSource:
    function_id: str
    event_id: str
    queue: Any  # unresolved, usually {"Fn::GetAtt": [Queue, "Arn"]}
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_batching_window: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    properties: dict[str, Any]
    code_dir: Path
    events: dict[str, Any] = field(default_factory=dict)

    @property
    def handler(self) -> str:
        return str(self.properties.get("Handler", "app.handler"))

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def timeout(self) -> Any:
        return self.properties.get("Timeout", 3)

    @property
    def memory_size(self) -> Any:
        return self.properties.get("MemorySize", 128)

    @property
    def environment(self) -> dict[str, Any]:
        return dict((self.properties.get("Environment") or {}).get("Variables") or {})


class SamTemplate:
    """A parsed ``template.yaml``; paths in it are relative to the template's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self.root = self.path.parent
        self.document = load_template(self.path)
        self.resources: dict[str, dict[str, Any]] = self.document.get("Resources") or {}
        if not self.resources:
            raise TemplateError(f"{self.path} declares no resources")
        self.globals: dict[str, Any] = self.document.get("Globals") or {}

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def _with_globals(self, section: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        merged = copy.deepcopy(dict(self.globals.get(section) or {}))
        for key, value in properties.items():
            if key in merged and (section, key) not in REPLACED_BY_RESOURCE:
                merged[key] = merge_globals(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged

    # -- functions ----------------------------------------------------------------------------
    def functions(self) -> dict[str, FunctionSpec]:
        specs = {}
        for logical_id, resource in self.of_type(SERVERLESS_FUNCTION).items():
            properties = self._with_globals("Function", resource.get("Properties") or {})
            code_uri = properties.get("CodeUri")
            if not isinstance(code_uri, str):
                raise TemplateError(f"{logical_id}: the local stack needs a local CodeUri folder")
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                properties=properties,
                code_dir=(self.root / code_uri).resolve(),
                events=dict(properties.get("Events") or {}),
            )
        return specs

    def api_routes(self) -> list[ApiRoute]:
        routes = []
        for function in self.functions().values():
            for event_id, event in function.events.items():
                if event.get("Type") != "Api":
                    continue
                props = event.get("Properties") or {}
                api = props.get("RestApiId", {"Ref": IMPLICIT_API})
                api_id = api.get("Ref") if isinstance(api, dict) else api
                if not isinstance(api_id, str):
                    raise TemplateError(f"{function.logical_id}.{event_id}: RestApiId must be a !Ref")
                routes.append(
                    ApiRoute(
                        function_id=function.logical_id,
                        event_id=event_id,
                        path=str(props["Path"]),
                        method=str(props["Method"]).upper(),
                        api_id=api_id,
                    )
                )
        return routes

    def sqs_sources(self) -> list[SqsSource]:
        sources = []
        for function in self.functions().values():
            for event_id, event in function.events.items():
                if event.get("Type") != "SQS":
                    continue
                props = event.get("Properties") or {}
                sources.append(
                    SqsSource(
                        function_id=function.logical_id,
                        event_id=event_id,
                        queue=props["Queue"],
                        batch_size=int(props.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        maximum_batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                        enabled=props.get("Enabled", True) not in (False, "false", "False"),
                    )
                )
        return sources

    # -- APIs ---------------------------------------------------------------------------------
    def api_properties(self, api_id: str) -> dict[str, Any]:
        """The ``AWS::Serverless::Api`` properties with ``Globals.Api`` applied."""
        resource = self.resources.get(api_id)
        if resource is None and api_id != IMPLICIT_API:
            raise TemplateError(f"routes refer to an API {api_id!r} that the template does not declare")
        own = (resource or {}).get("Properties") or {}
        properties = self._with_globals("Api", own)
        properties.setdefault("StageName", "Prod")
        return properties
