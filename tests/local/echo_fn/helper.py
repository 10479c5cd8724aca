"""A sibling module of the echo handler; counts how often it has been imported (per import)."""

_loads = 0


def count_load() -> int:
    global _loads
    _loads += 1
    return _loads
