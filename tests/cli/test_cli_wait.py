"""--wait: polling with growing intervals, progress on stderr, the result downloaded, job failures."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from cli_fakeapi import API_KEY, FACES, RESULT_PNG
from swapgate_cli import progress

SOURCE, FACE = str(FACES / "two_faces.jpg"), str(FACES / "grace_hopper.jpg")


def test_wait_polls_until_succeeded_and_downloads_the_result(api, run, clock, tmp_path, capsys):
    out_path = tmp_path / "swapped.png"
    assert run("swap", SOURCE, FACE, "--wait", "-o", str(out_path)) == 0
    out, err = capsys.readouterr()
    assert out == f"{out_path}\n"
    assert out_path.read_bytes() == RESULT_PNG
    assert not (tmp_path / "swapped.png.part").exists()
    polls = api.of("GET", "/v1/swaps/job0001")
    assert len(polls) == 3 and all(p.headers["x-api-key"] == API_KEY for p in polls)
    (download,) = api.of("GET", "/results/job0001")
    assert "x-api-key" not in download.headers  # the key never leaves for a result URL
    lines = err.splitlines()
    assert lines[0] == "job job0001 accepted by provider local"
    assert [line.split("] ", 1)[1] for line in lines[1:]] == [
        "job job0001: queued",
        "job job0001: running",
        "job job0001: succeeded",
    ]
    assert lines[2].startswith("[   1.0s]") and lines[3].startswith("[   2.5s]")  # elapsed (virtual)
    assert "\r" not in err  # no spinner: stderr is not a terminal here
    assert API_KEY not in out + err


def test_poll_intervals_grow_and_are_capped(api, run, clock, capsys):
    api.next_statuses = ["queued"] + ["running"] * 9 + ["succeeded"]
    assert run("swap", SOURCE, FACE, "--wait", "--quiet") == 0
    times = [r.at for r in api.of("GET", "/v1/swaps/job0001")]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert gaps == [1.0, 1.5, 2.25, 3.375, 5.062, 7.594, 10.0, 10.0, 10.0, 10.0]
    assert capsys.readouterr().err == ""  # --quiet


def test_first_interval_is_an_option(api, run, clock, capsys):
    assert run("swap", SOURCE, FACE, "--wait", "--interval", "0.2", "-q") == 0
    times = [r.at for r in api.of("GET", "/v1/swaps/job0001")]
    assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [0.2, 0.3]


def test_default_output_name_is_the_job_id_with_the_type_from_magic_bytes(api, run, clock, tmp_path):
    api.result_type = "binary/octet-stream"  # what S3 answers for an object stored without a type
    assert run("swap", SOURCE, FACE, "--wait") == 0
    assert (tmp_path / "job0001.png").read_bytes() == RESULT_PNG


@pytest.mark.parametrize(
    ("content_type", "name"), [("image/webp", "job0001.webp"), ("image/jpeg; q=1", "job0001.jpg")]
)
def test_output_type_from_the_content_type_when_magic_bytes_tell_nothing(
    api, run, clock, tmp_path, content_type, name
):
    api.result_bytes, api.result_type = b"not a known signature", content_type
    assert run("swap", SOURCE, FACE, "--wait") == 0
    assert (tmp_path / name).read_bytes() == b"not a known signature"


def test_output_into_a_directory_and_o_implies_wait(api, run, clock, tmp_path, capsys):
    target = tmp_path / "results"
    target.mkdir()
    assert run("swap", SOURCE, FACE, "-o", str(target)) == 0
    assert (target / "job0001.png").read_bytes() == RESULT_PNG
    assert capsys.readouterr().out == f"{target / 'job0001.png'}\n"


def test_wait_json_prints_the_final_job_and_the_output(api, run, clock, tmp_path, capsys):
    assert run("multi", SOURCE, "--face", FACE, "--index", "0", "--wait", "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "succeeded" and printed["id"] == "job0001"
    assert printed["output"] == "job0001.png" and (tmp_path / "job0001.png").exists()


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            "failed",
            {"code": "no_face", "message": "no face found in face_image"},
            "error: job job0001 failed: no_face: no face found in face_image",
        ),
        ("timed_out", None, "error: job job0001 timed_out: timed_out: the job ended timed_out"),
        (
            "canceled",
            {"code": "canceled", "message": "canceled by the client"},
            "error: job job0001 canceled: canceled: canceled by the client",
        ),
    ],
)
def test_a_job_that_does_not_succeed_exits_1_with_its_error(
    api, run, clock, tmp_path, capsys, status, error, expected
):
    api.next_statuses, api.next_error = ["queued", "running", status], error
    assert run("swap", SOURCE, FACE, "--wait") == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == expected
    assert api.of("GET", "/results/.*") == [] and list(tmp_path.iterdir()) == []


def test_max_wait_gives_up_with_a_hint(api, run, clock, capsys):
    api.next_statuses = ["running"]
    assert run("swap", SOURCE, FACE, "--wait", "--max-wait", "20") == 1
    err = capsys.readouterr().err
    assert "error: job job0001 is still running after 20s; see it later with: swapgate status job0001" in err
    assert clock.now - 1000.0 < 40  # gave up near the limit, not after the job


def test_transient_poll_failures_are_tolerated(api, run, clock, capsys):
    api.answer_once("GET", "/v1/swaps/job0001", 502, "<html>Bad Gateway</html>")
    api.answer_once(
        "GET", "/v1/swaps/job0001", 503, {"error": {"code": "busy", "message": "later"}}, {"Retry-After": "3"}
    )
    assert run("swap", SOURCE, FACE, "--wait") == 0
    err = capsys.readouterr().err
    assert "polling failed (http_502: <html>Bad Gateway</html>); trying again" in err
    assert 3.0 in clock.sleeps  # the 503's Retry-After was honoured before the request was retried
    assert "job job0001: succeeded" in err


def test_polling_gives_up_after_repeated_failures(api, run, clock, capsys):
    for _ in range(12):
        api.answer_once("GET", "/v1/swaps/job0001", 502, "<html>Bad Gateway</html>")
    assert run("swap", SOURCE, FACE, "--wait") == 1
    assert capsys.readouterr().err.splitlines()[-1] == "error: http_502: <html>Bad Gateway</html>"
    assert len(api.of("GET", "/v1/swaps/job0001")) == progress.POLL_FAILURES + 1


def test_a_404_while_polling_is_not_retried(api, run, clock, capsys):
    api.answer_once(
        "GET", "/v1/swaps/job0001", 404, {"error": {"code": "not_found", "message": "no job", "field": "id"}}
    )
    assert run("swap", SOURCE, FACE, "--wait") == 1
    assert "error: not_found: no job (field: id)" in capsys.readouterr().err
    assert len(api.of("GET", "/v1/swaps/job0001")) == 1


def test_interrupting_the_wait_says_the_job_goes_on(api, run, clock, capsys, monkeypatch):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(progress, "sleep", interrupted)
    assert run("swap", SOURCE, FACE, "--wait") == 130
    assert (
        "interrupted; job job0001 goes on: see it with `swapgate status job0001`" in capsys.readouterr().err
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_spinner_that_is_cleared(api, run, clock, monkeypatch):
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    assert run("swap", SOURCE, FACE, "--wait") == 0
    text = stderr.getvalue()
    frames = [chunk.split(" ", 1)[0] for chunk in text.split("\r")[1:] if chunk and chunk[0] in "|/-\\"]
    assert len(set(frames)) == 4  # the spinner turned
    assert "\r| job job0001: queued" in text
    assert "\r\033[K[   2.5s] job job0001: succeeded\n" in text  # the spinner line is wiped first
    assert text.endswith("succeeded\n")
    assert max(clock.sleeps) <= 0.1 + 1e-9  # ticks between polls


def test_a_non_terminal_gets_a_heartbeat_line_on_long_waits(api, run, clock, capsys):
    api.next_statuses = ["running"] * 10 + ["succeeded"]
    assert run("swap", SOURCE, FACE, "--wait") == 0
    err = capsys.readouterr().err
    assert "job job0001: still running" in err
    assert "\r" not in err
