"""Read template.yaml for the infra tests: a PyYAML safe loader that turns CloudFormation's short tags
into their long form, and a small evaluator for the string intrinsics used in names and ARNs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def evaluate(value: Any, refs: dict[str, str]) -> Any:
    """Evaluate Ref / Fn::Sub / Fn::Join / Fn::Select / Fn::Split against ``refs`` (parameters,
    pseudo parameters and resource names). Anything else raises, so a test never guesses."""
    if isinstance(value, str | int):
        return value
    if isinstance(value, list):
        return [evaluate(item, refs) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"cannot evaluate {value!r}")
    ((function, argument),) = value.items()
    if function == "Ref":
        return refs[argument]
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(str(item) for item in evaluate(items, refs))
    if function == "Fn::Select":
        index, items = argument
        return evaluate(items, refs)[int(index)]
    if function == "Fn::Split":
        separator, text = argument
        return evaluate(text, refs).split(separator)
    if function == "Fn::Sub" and isinstance(argument, str):
        return re.sub(r"\$\{([^}!]+)\}", lambda m: refs[m.group(1)], argument)
    raise ValueError(f"cannot evaluate {function}")


def references(value: Any) -> set[str]:
    """Logical ids (and parameter names) that ``value`` refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else item.split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else (item[0], item[1])
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    if name not in variables:
                        found.add(name.split(".")[0])
                found |= references(variables)
            else:
                found |= references(item)
    return found
