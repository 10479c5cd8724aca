"""`make faults`' splitting of seeds over processes and its summary of their summaries."""

from __future__ import annotations

import pytest
from run_faults import combined, split


def test_the_seed_ranges_cover_every_seed_once():
    assert split(10, 3, 5) == [(5, 4), (9, 3), (12, 3)]
    assert split(2, 4, 0) == [(0, 1), (1, 1)]  # no empty part
    ranges = split(20000, 7, 0)
    seeds = [seed for first, count in ranges for seed in range(first, first + count)]
    assert seeds == list(range(20000))


def test_the_last_line_adds_the_parts_up_in_the_suites_own_words():
    lines = [
        "faults: 3 schedules, 2 faults injected, 0 lost jobs, 1 lost notifications, 0 orphan results, 0 double results\n",
        "faults: 4 schedules, 4 faults injected, 2 lost jobs, 0 lost notifications, 3 orphan results, 1 double results",
    ]
    assert combined(lines) == (
        "faults: 7 schedules, 6 faults injected, 2 lost jobs, 1 lost notifications, 3 orphan results, 1 double results"
    )
    with pytest.raises(ValueError, match="not a summary line"):
        combined(["faults: 3 schedules and more"])
