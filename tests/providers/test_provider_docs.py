"""The docs say what the registry says: the provider capability table, rendered from ``PROVIDERS``, and
the provider settings in the configuration tables. (The registry is the one source; docs follow it.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from swapgate.providers.base import Operation
from swapgate.providers.registry import PROVIDERS, ProviderSpec, provider_names

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATIONS = list(Operation)
PROVIDER_VAR = re.compile(r"\b(?!SWAPGATE_)[A-Z][A-Z0-9]*_(?:API_KEY|BASE_URL)\b")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _settings(spec: ProviderSpec) -> str:
    if not spec.variables:
        return f"none (the `{spec.extra}` extra)" if spec.extra else "none"
    names = ", ".join(f"`{var}`" for var in spec.variables)
    return f"{names} (default `{spec.default_base_url}`)" if spec.default_base_url else names


def capability_table() -> str:
    """The provider capability table, in Markdown, as the docs should show it."""
    header = ["provider", *(f"`{op.value}`" for op in OPERATIONS), "image bytes", "settings"]
    rows = [
        [
            f"`{spec.name}`",
            *(_yes(op in spec.operations) for op in OPERATIONS),
            _yes(spec.accepts_bytes),
            _settings(spec),
        ]
        for spec in PROVIDERS.values()
    ]
    lines = ["| " + " | ".join(cells) + " |" for cells in [header, *rows]]
    lines.insert(1, "|" + "---|" * len(header))
    return "\n".join(lines)


def _tables(text: str) -> list[list[str]]:
    """Every Markdown table of ``text``, as its lines."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line.rstrip())
        elif current:
            tables.append(current)
            current = []
    return tables


def _rows(paths: list[Path]) -> list[str]:
    return [row for path in paths for table in _tables(path.read_text()) for row in table]


def _is_capability_table(table: list[str]) -> bool:
    return all(f"`{op.value}`" in table[0] for op in OPERATIONS) and "provider" in table[0]


def test_capability_tables_in_the_docs_match_the_registry():
    found = [
        (path.name, table)
        for path in DOCS
        for table in _tables(path.read_text())
        if _is_capability_table(table)
    ]
    assert found, (
        "README.md lost its provider capability table; this one belongs there:\n" + capability_table()
    )
    for name, table in found:
        assert "\n".join(table) == capability_table(), f"{name}: the provider table differs from the registry"


def test_the_rendered_table_has_a_row_per_provider_and_a_column_per_operation():
    lines = capability_table().splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| `{name}`" for name in provider_names()]
    assert all(line.count("|") == len(OPERATIONS) + 4 for line in lines)
    assert "| `ttapi` | yes | no | no | yes | no |" in capability_table()  # spot check
    assert _is_capability_table(lines) and not _is_capability_table(["| provider | routes | key header |"])


@pytest.mark.parametrize("doc", ["README.md", "docs/ARCHITECTURE.md"])
def test_configuration_tables_name_each_providers_settings_and_default(doc):
    rows = _rows([ROOT / doc])
    for spec in PROVIDERS.values():
        if spec.key_var is None:
            continue
        assert any(
            spec.key_var in row and spec.base_url_var in row and spec.default_base_url in row for row in rows
        ), f"{doc}: no row gives {spec.key_var}, {spec.base_url_var} and its default {spec.default_base_url}"


def test_docs_name_no_provider_settings_the_registry_does_not_have():
    known = {var for spec in PROVIDERS.values() for var in spec.variables}
    named = {var for row in _rows(DOCS) for var in PROVIDER_VAR.findall(row)}
    assert named <= known, f"settings of unknown providers in the docs: {sorted(named - known)}"


def test_readme_lists_every_provider_as_a_default():
    row = next(row for row in _rows([ROOT / "README.md"]) if row.startswith("| `SWAPGATE_PROVIDER` |"))
    meaning = row.split("|")[2]
    assert set(re.findall(r"`([a-z0-9_]+)`", meaning)) == set(provider_names())
