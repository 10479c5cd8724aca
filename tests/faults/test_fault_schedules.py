"""The fault-injection suite: ``SWAPGATE_FAULT_SCHEDULES`` randomised schedules (default 2,000) of
the racing actors over the real handlers on moto, most with one injected fault (tests/faults/faultsuite.py).
``SWAPGATE_FAULT_SEED`` shifts the seeds; ``SWAPGATE_FAULT_SUMMARY`` names a file for the summary line."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from faultsuite import Clock, Injector, Runner
from support import PROVIDER_KEY
from support.deployment import TABLE, deployed
from swapgate import delivery
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver

SCHEDULES = int(os.environ.get("SWAPGATE_FAULT_SCHEDULES", "2000"))
FIRST_SEED = int(os.environ.get("SWAPGATE_FAULT_SEED", "0"))


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("SWAPGATE_RATE_LIMIT_PER_MINUTE", "1000000")  # one client, thousands of jobs
    with (
        FakeAifaceswap(api_key=PROVIDER_KEY, delay=0) as fake,
        FakeTtapi(api_key=PROVIDER_KEY, delay=0) as ttapi,
        WebhookReceiver() as receiver,
        deployed(
            monkeypatch,
            fake,
            ttapi,
            notify_queue=True,
            functions=("api", "callback", "poll", "notify", "job_events", "trigger"),
        ) as deployment,
    ):
        injector, clock = Injector(TABLE), Clock()
        injector.install(monkeypatch)
        monkeypatch.setattr(delivery, "time", clock)
        logging.disable(logging.CRITICAL)  # thousands of jobs' logs cost more than the jobs
        try:
            yield Runner(deployment, {"aifaceswap": fake, "ttapi": ttapi}, receiver, injector, clock)
        finally:
            logging.disable(logging.NOTSET)


@pytest.mark.timeout(120 + 2 * SCHEDULES)  # some 0.1-0.5 s a schedule, by the machine's load
def test_no_schedule_loses_a_job_a_notification_or_a_result(runner):
    started = time.monotonic()
    for seed in range(FIRST_SEED, FIRST_SEED + SCHEDULES):
        runner.run(seed)
    totals = runner.totals
    line = totals.line()
    print(f"\nhow jobs ended: {dict(totals.ends)}; submit answers: {dict(totals.answers)}")
    print(f"retried invocation errors: {dict(totals.errors)}; jobs notified: {totals.notified}")
    print(
        f"schedules by provider: {dict(totals.providers)}; started by a manifest: {totals.manifests} "
        f"({totals.manifest_jobs} jobs)"
    )
    print(f"handler boto3 calls per schedule: {sorted(totals.calls.items())}")
    print(f"{line} ({time.monotonic() - started:.0f} s)")
    if summary := os.environ.get("SWAPGATE_FAULT_SUMMARY"):
        Path(summary).write_text(line + "\n")
    assert totals.faults > SCHEDULES // 2, line
    assert totals.notified > SCHEDULES // 2 and totals.ends["succeeded"] > SCHEDULES // 10, line
    assert totals.providers["ttapi"] > SCHEDULES // 5 and totals.manifests > SCHEDULES // 10, line
    assert totals.violations == [], "\n".join(totals.violations[:20])


def test_the_checks_see_a_lost_notification_and_a_missing_result(runner, monkeypatch):
    """The checks are not vacuous: with webhooks never sent and results never published, the same
    schedules report lost notifications and succeeded jobs without a result."""
    from swapgate import delivery, storage

    monkeypatch.setattr(delivery, "deliver", lambda job, storage: None)
    monkeypatch.setattr(storage.Storage, "publish_result", lambda self, staged, result: True)
    for seed in range(8):
        runner.run(seed, fault_rate=0)
    assert runner.totals.lost_notifications == sum(runner.totals.ends.values()) > 8  # every job's
    assert any("has no result" in violation for violation in runner.totals.violations)


def test_the_checks_see_a_manifest_without_its_outbox_result(runner, monkeypatch):
    """A manifest whose result file is never written is a lost notification; the jobs' own webhooks
    still count as delivered."""
    from swapgate.inbox.outbox import Outbox

    monkeypatch.setattr(Outbox, "write_result", lambda self, key, entries, jobs: len(entries))
    seeds = [seed for seed in range(40) if runner.starts_by_manifest(seed)][:3]
    for seed in seeds:
        runner.run(seed, fault_rate=0)
    assert runner.totals.manifests == len(seeds) == 3
    assert runner.totals.lost_notifications == 3 and runner.totals.lost_jobs == 0
    assert all("outbox result None" in violation for violation in runner.totals.violations)
