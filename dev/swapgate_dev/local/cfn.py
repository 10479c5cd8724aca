"""Read CloudFormation / SAM templates and resolve their intrinsic functions.

``load_template`` is a PyYAML safe loader that understands the short tags (``!Ref``, ``!GetAtt``,
``!Sub``, ``!If``, ``!Join`` ...) and turns each into its long form (``{"Ref": ...}``,
``{"Fn::GetAtt": [...]}``), so the rest of the code deals with one shape only.

``Resolver`` evaluates the intrinsics against parameters, pseudo parameters, conditions and the
physical names / attributes of the resources the local stack created. A reference it cannot
resolve raises ``UnresolvableReference`` naming it, rather than guessing a value.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

# The value of ``!Ref AWS::NoValue``: removes the property (or list item) it stands for.
NO_VALUE = object()

_SHORT_TAGS = (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "Length",
    "ToJsonString",
)


class TemplateError(Exception):
    """The template cannot be read or evaluated."""


class UnresolvableReference(TemplateError):
    """A ``Ref`` / ``Fn::GetAtt`` / ``${...}`` names something the local stack has no value for."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"cannot resolve {reference!r} in the local stack")
        self.reference = reference


class _CfnLoader(yaml.SafeLoader):
    """A safe loader with the CloudFormation short-form tags. A key given twice in one mapping is an
    error, as CloudFormation makes it (plain YAML loaders silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _long_form(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        return {f"Fn::{name}": _construct(node, loader)}

    return construct


def _construct_ref(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return {"Ref": _construct(node, loader)}


def _construct_condition(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return {"Condition": _construct(node, loader)}


def _construct_getatt(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = _construct(node, loader)
    if isinstance(value, str):
        # ``!GetAtt Resource.Attribute`` (the attribute may itself contain dots).
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {"Fn::GetAtt": value}


for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _long_form(_tag))
_CfnLoader.add_constructor("!Ref", _construct_ref)
_CfnLoader.add_constructor("!Condition", _construct_condition)
_CfnLoader.add_constructor("!GetAtt", _construct_getatt)


def load_template(path: str | Path) -> dict[str, Any]:
    """The template at ``path`` (YAML or JSON) with every short tag in its long form."""
    text = Path(path).read_text(encoding="utf-8")
    return loads_template(text)


def loads_template(text: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError("a template is a mapping at the top level")
    return document


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions.

    ``refs`` maps a logical id to what ``Ref`` returns for it; ``attributes`` maps
    ``(logical id, attribute)`` to what ``Fn::GetAtt`` returns. Parameters take their template
    ``Default`` unless ``parameters`` gives a value. Pseudo parameters come from ``pseudo``.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameters: Mapping[str, Any] | None = None,
        pseudo: Mapping[str, Any] | None = None,
        refs: Mapping[str, Any] | None = None,
        attributes: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        self.template = template
        self.parameters: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if parameters and name in parameters:
                self.parameters[name] = parameters[name]
            elif isinstance(spec, Mapping) and "Default" in spec:
                self.parameters[name] = spec["Default"]
        for name, value in (parameters or {}).items():
            self.parameters.setdefault(name, value)
        self.pseudo = {
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "swapgate-local",
            "AWS::NotificationARNs": [],
            **(pseudo or {}),
        }
        self.pseudo.setdefault(
            "AWS::StackId",
            "arn:aws:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000".format(
                self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"], self.pseudo["AWS::StackName"]
            ),
        )
        self.refs: dict[str, Any] = dict(refs or {})
        self.attributes: dict[tuple[str, str], Any] = dict(attributes or {})
        self._conditions: dict[str, bool] = {}

    # -- conditions ---------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise UnresolvableReference(f"Condition {name}")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        """False when the resource has a ``Condition`` that evaluates to false."""
        resource = (self.template.get("Resources") or {}).get(logical_id) or {}
        condition = resource.get("Condition")
        return True if condition is None else self.condition(condition)

    # -- references ---------------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise UnresolvableReference(f"Ref {name}")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise UnresolvableReference(f"Fn::GetAtt {logical_id}.{attribute}") from None

    def _sub_variable(self, name: str, variables: Mapping[str, Any]) -> str:
        name = name.strip()
        if name in variables:
            value = variables[name]
        elif "." in name and name.split(".", 1)[0] not in self.pseudo:
            logical_id, attribute = name.split(".", 1)
            value = self.get_att(logical_id, attribute)
        else:
            value = self.ref(name)
        if isinstance(value, (list, dict)) or value is NO_VALUE:
            raise TemplateError(f"${{{name}}} in Fn::Sub is not a string")
        return str(value)

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        variables = variables or {}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):  # ``${!Literal}`` is the escape for a literal ``${Literal}``
                return "${" + inner[1:] + "}"
            return self._sub_variable(inner, variables)

        return _SUB_VARIABLE.sub(replace, text)

    # -- evaluation ---------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated and ``AWS::NoValue`` removed."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self.ref(self.resolve(argument))
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            raise TemplateError(f"Fn::{name} is not supported by the local stack")
        return handler(argument)

    def _fn_getatt(self, argument: Any) -> Any:
        logical_id, attribute = self.resolve(argument)
        return self.get_att(logical_id, attribute)

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            return self.sub(argument)
        text, variables = argument
        return self.sub(self.resolve(text), self.resolve(variables))

    def _fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(self.resolve(delimiter)).join(str(item) for item in self.resolve(items))

    def _fn_select(self, argument: Any) -> Any:
        index, items = self.resolve(argument)
        return items[int(index)]

    def _fn_split(self, argument: Any) -> list[str]:
        delimiter, text = self.resolve(argument)
        return str(text).split(delimiter)

    def _fn_if(self, argument: Any) -> Any:
        condition, if_true, if_false = argument
        return self.resolve(if_true if self.condition(condition) else if_false)

    def _fn_equals(self, argument: Any) -> bool:
        left, right = self.resolve(argument)
        return str(left) == str(right) if not isinstance(left, (list, dict)) else left == right

    def _fn_not(self, argument: Any) -> bool:
        (value,) = self.resolve(argument)
        return not value

    def _fn_and(self, argument: Any) -> bool:
        return all(self.resolve(argument))

    def _fn_or(self, argument: Any) -> bool:
        return any(self.resolve(argument))

    def _fn_findinmap(self, argument: Any) -> Any:
        mapping, top, second = self.resolve(argument)[:3]
        try:
            return self.template["Mappings"][mapping][top][second]
        except KeyError:
            raise UnresolvableReference(f"Fn::FindInMap {mapping}.{top}.{second}") from None

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_getazs(self, argument: Any) -> list[str]:
        region = self.resolve(argument) or self.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_length(self, argument: Any) -> int:
        return len(self.resolve(argument))

    def _fn_tojsonstring(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument), separators=(",", ":"))
