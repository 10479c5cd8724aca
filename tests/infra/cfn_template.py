"""For the infra tests: a small evaluator for the string intrinsics used in names and ARNs, and the
references a value makes. The template itself is read by the local stack's loader
(``swapgate_dev.local.cfn.load_template``: short tags in their long form)."""

from __future__ import annotations

import re
from typing import Any


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
