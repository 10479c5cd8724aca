"""swapgate.waiting: how a waiting request reads its job (``Prefer: wait``), on a virtual clock."""

from __future__ import annotations

from swapgate.jobs import Job, JobStatus
from swapgate.waiting import wait_for_end


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.reads: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def reader(clock: Clock, ends_at: float | None):
    def read() -> Job:
        clock.reads.append(round(clock.now, 2))
        ended = ends_at is not None and clock.now >= ends_at
        status = JobStatus.SUCCEEDED if ended else JobStatus.RUNNING
        return Job(id="job_1", provider="local", operation="swap", status=status)

    return read


def test_a_job_that_does_not_end_is_read_13_times_in_20_seconds():
    clock = Clock()
    running = Job(id="job_1", provider="local", operation="swap", status=JobStatus.RUNNING)
    job = wait_for_end(reader(clock, None), 20, job=running, clock=lambda: clock.now, sleep=clock.sleep)
    assert job.status is JobStatus.RUNNING
    assert clock.reads == [0.25, 0.75, 1.75, 3.75, 5.75, 7.75, 9.75, 11.75, 13.75, 15.75, 17.75, 19.75, 20.0]


def test_a_quick_job_is_seen_soon_after_it_ends():
    clock = Clock()
    job = wait_for_end(reader(clock, 1.0), 20, clock=lambda: clock.now, sleep=clock.sleep)
    assert job.status is JobStatus.SUCCEEDED
    assert clock.reads == [0.0, 0.25, 0.75, 1.75]  # the first read: no job was in hand


def test_an_ended_job_is_not_read_again_and_no_time_is_spent():
    clock = Clock()
    done = Job(id="job_1", provider="local", operation="swap", status=JobStatus.FAILED)
    assert wait_for_end(reader(clock, None), 20, job=done, clock=lambda: clock.now, sleep=clock.sleep) is done
    assert clock.reads == [] and clock.now == 0
