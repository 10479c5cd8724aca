"""What the poller costs per job: Step Functions Standard bills every state entered (a "state
transition"). Walks infra/poller.asl.json with the template's default timing, as the poll function
grows the interval, and prints the transitions per job for the webhook path, the poll path and the
timed-out path. Run: make bench (or python bench/poller_cost.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from swapgate_dev.local.cfn import load_template
from swapgate_dev.local.runtime import load_handler

ROOT = Path(__file__).resolve().parents[1]


def defaults() -> dict[str, int]:
    parameters = load_template(ROOT / "template.yaml")["Parameters"]
    return {
        name: int(parameters[name]["Default"])
        for name in (
            "PollInitialSeconds",
            "PollIntervalSeconds",
            "PollMaxIntervalSeconds",
            "JobTimeoutSeconds",
        )
    }


def walk(finished_at: float | None, timing: dict[str, int]) -> tuple[int, int, str]:
    """(state transitions, polls, outcome) for a job that ends at ``finished_at`` seconds (None: never)."""
    next_interval = _poll_function().next_interval  # the same growth rule the poll function applies
    states = json.loads((ROOT / "infra" / "poller.asl.json").read_text())["States"]
    now, interval = 0.0, timing["PollIntervalSeconds"]
    cap, deadline = timing["PollMaxIntervalSeconds"], timing["JobTimeoutSeconds"]
    state, entered, polls = "InitialWait", 0, 0
    while True:
        entered += 1
        kind = states[state]["Type"]
        if state == "InitialWait":
            now += timing["PollInitialSeconds"]
        elif state == "WaitAgain":
            now += interval
        elif state == "Poll":
            polls += 1
            terminal = finished_at is not None and finished_at <= now
            expired = not terminal and now >= deadline
            interval = next_interval(interval, cap)
        elif state == "IsDone":
            state = "Done" if terminal else ("MarkTimedOut" if expired else "WaitAgain")
            continue
        if kind in ("Succeed", "Fail"):
            return entered, polls, "succeeded" if kind == "Succeed" else "timed_out"
        state = states[state]["Next"]


def _poll_function():
    load_handler(ROOT / "functions" / "poll" / "app.py", "handler", "poll_app")  # as the local stack does
    return sys.modules["poll_app"]


def main() -> None:
    timing = defaults()
    print("poller timing (template defaults):", ", ".join(f"{k}={v}" for k, v in timing.items()))
    print(f"{'job':<48} {'polls':>5} {'transitions':>11}")
    cases = [
        ("webhook arrives before the first poll", 30),
        ("webhook lost, provider done at 90 s (fetch)", 90),
        ("webhook lost, provider done at 10 min (fetch)", 600),
        ("never finishes (aifaceswap, lost webhook)", None),
    ]
    for label, finished_at in cases:
        transitions, polls, outcome = walk(finished_at, timing)
        print(f"{label:<48} {polls:>5} {transitions:>11}   -> {outcome}")


if __name__ == "__main__":
    main()
