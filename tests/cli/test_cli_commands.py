"""status / cancel, settings from options and environment, error messages and exit codes."""

from __future__ import annotations

import json

import pytest
from cli_fakeapi import API_KEY, FACES, closed_port
from swapgate_cli import client
from swapgate_cli.main import main

SOURCE, FACE = str(FACES / "two_faces.jpg"), str(FACES / "grace_hopper.jpg")


@pytest.fixture
def job(api, run, capsys):
    assert run("swap", "https://a.example/1.jpg", "https://a.example/2.jpg") == 0
    capsys.readouterr()
    return "job0001"


# --- status and cancel ------------------------------------------------------------------------------


def test_status_prints_the_job_fields(api, run, job, capsys):
    api.jobs[job].statuses = ["succeeded"]
    assert run("status", job) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "id:         job0001",
        "status:     succeeded",
        "provider:   local",
        "created_at: 2025-01-01T00:00:00Z",
        "updated_at: 2025-01-01T00:00:05Z",
        "points:     1",
        f"result_url: {api.base_url}/results/job0001?X-Amz-Signature=abc",
    ]
    assert api.of("GET", "/v1/swaps/job0001")[0].headers["x-api-key"] == API_KEY


def test_status_shows_a_jobs_error_and_json(api, run, job, capsys):
    api.jobs[job].statuses = ["failed"]
    api.jobs[job].error = {"code": "no_face", "message": "no face in face_image", "field": "face_image"}
    assert run("status", job) == 0
    assert "error:      no_face: no face in face_image (field: face_image)" in capsys.readouterr().out
    assert run("status", job, "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "failed" and printed["error"]["code"] == "no_face"


def test_cancel(api, run, job, capsys):
    assert run("cancel", job) == 0
    assert capsys.readouterr().out == "job0001: canceled\n"
    assert len(api.of("POST", "/v1/swaps/job0001/cancel")) == 1


def test_cancel_of_an_ended_job_says_nothing_was_canceled(api, run, job, capsys):
    view = api.view(api.jobs[job], "succeeded")
    api.answer_once("POST", "/v1/swaps/job0001/cancel", 200, view)
    assert run("cancel", job) == 0
    out, err = capsys.readouterr()
    assert out == "job0001: succeeded\n"
    assert err == "the job had already ended succeeded: nothing was canceled\n"


def test_delete_purges_the_job(api, run, job, capsys):
    assert run("delete", job) == 0
    assert capsys.readouterr().out == "job0001: canceled, data removed\n"
    assert len(api.of("DELETE", "/v1/swaps/job0001")) == 1
    assert run("delete", job, "--json") == 0
    assert json.loads(capsys.readouterr().out)["data_removed"] is True


def test_delete_of_an_unknown_job_is_an_api_error(api, run, capsys):
    assert run("delete", "nope") == 1
    assert capsys.readouterr().err == "error: not_found: no job 'nope' (field: id)\n"


def test_status_of_an_unknown_job_is_an_api_error(api, run, capsys):
    assert run("status", "nope") == 1
    assert capsys.readouterr().err == "error: not_found: no job 'nope' (field: id)\n"


def test_a_malformed_job_id_is_a_usage_error_and_sends_nothing(api, run, capsys):
    assert run("status", "../v1/uploads") == 2
    assert "not a job id" in capsys.readouterr().err
    assert api.requests == []


# --- settings ------------------------------------------------------------------------------------


def test_url_and_key_from_the_environment(api, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWAPGATE_URL", api.base_url + "/")
    monkeypatch.setenv("SWAPGATE_API_KEY", API_KEY)
    assert main(["faces", "https://a.example/1.jpg"]) == 0
    assert api.of("POST", "/v1/faces")[0].headers["x-api-key"] == API_KEY


def test_options_after_the_command_override_the_environment(api, monkeypatch, capsys):
    monkeypatch.setenv("SWAPGATE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SWAPGATE_API_KEY", "wrong")
    argv = ["faces", "https://a.example/1.jpg", "--url", api.base_url, "--api-key", API_KEY]
    assert main(argv) == 0
    assert api.of("POST", "/v1/faces")[0].headers["x-api-key"] == API_KEY


def test_the_default_key_is_the_local_stacks(api, monkeypatch, capsys):
    monkeypatch.delenv("SWAPGATE_API_KEY", raising=False)
    assert main(["--url", api.base_url, "status", "job0001"]) == 1
    assert api.requests[0].headers["x-api-key"] == "local-dev-key"


def test_a_deployed_url_with_a_stage_path(api, run, job, capsys):
    assert run("status", job, url=api.base_url + "/prod") == 1  # the fake has no /prod prefix
    assert api.requests[-1].path == "/prod/v1/swaps/job0001"


# --- errors --------------------------------------------------------------------------------------


def test_an_api_error_prints_code_message_and_field(api, run, capsys):
    api.answer_once(
        "POST",
        "/v1/swaps",
        400,
        {
            "error": {
                "code": "invalid_image",
                "message": "face_image is not a JPEG, PNG or WebP image",
                "field": "face_image",
            }
        },
    )
    assert run("swap", SOURCE, FACE) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: invalid_image: face_image is not a JPEG, PNG or WebP image (field: face_image)\n"


def test_a_wrong_key_is_named_as_the_cause_but_never_printed(api, run, capsys):
    secret = "sk-wrong-key-should-stay-hidden"
    assert run("swap", SOURCE, FACE, "--json", key=secret) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: unauthorized: the API key is not valid")
    assert "--api-key" in err and "SWAPGATE_API_KEY" in err
    assert secret not in out + err and API_KEY not in out + err


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            502,
            "<html><body>Bad   Gateway</body></html>",
            "error: http_502: <html><body>Bad Gateway</body></html>",
        ),
        (403, {"message": "Forbidden"}, "error: http_403: Forbidden"),
        (500, {"unexpected": True}, 'error: http_500: {"unexpected": true}'),
    ],
)
def test_error_answers_not_in_swapgates_format(api, run, capsys, status, body, expected):
    api.answer_once("GET", "/v1/swaps/job0001", status, body)
    assert run("status", "job0001") == 1
    assert capsys.readouterr().err == expected + "\n"


def test_a_429_that_persists_ends_with_the_rate_limit_error(api, run, capsys):
    for _ in range(client.RETRIES):
        api.answer_once(
            "POST",
            "/v1/faces",
            429,
            {"error": {"code": "rate_limited", "message": "too many requests"}},
            {"Retry-After": "0"},
        )
    assert run("faces", SOURCE) == 1
    assert capsys.readouterr().err == "error: rate_limited: too many requests\n"
    assert len(api.of("POST", "/v1/faces")) == client.RETRIES


def test_connection_refused_says_the_api_is_not_reachable_and_suggests_make_dev(run, capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    assert run("swap", SOURCE, FACE, url=url) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the Swapgate API is not reachable at {url} (connection refused)")
    assert "`make dev`" in err and "--url" in err
    assert API_KEY not in err


def test_a_slow_api_times_out_with_the_timeout_named(api, run, capsys):
    api.delay = 1.0
    assert run("status", "job0001", "--timeout", "0.2") == 1
    err = capsys.readouterr().err
    assert err == f"error: no answer from {api.base_url} within 0.2s (raise it with --timeout)\n"


def test_a_missing_file_is_named_and_nothing_is_sent(api, run, tmp_path, capsys):
    missing = tmp_path / "nope.jpg"
    assert run("swap", str(missing), FACE) == 2
    assert capsys.readouterr().err == f"error: no such file: {missing}\n"
    assert run("swap", str(tmp_path), FACE) == 2
    assert capsys.readouterr().err == f"error: not a file: {tmp_path}\n"
    assert api.requests == []


def test_an_unwritable_output_is_reported(api, run, clock, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir" / "r.png"
    assert run("swap", SOURCE, FACE, "-o", str(out)) == 1
    assert f"error: cannot write {out}" in capsys.readouterr().err


# --- usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["multi", SOURCE, "--face", FACE, "--face", FACE, "--index", "0"], "got 2 --face and 1 --index"),
        (["multi", SOURCE, "--index", "0"], "give at least one --face with its --index"),
        (["multi", SOURCE, *["--face", FACE, "--index", "0"] * 11], "at most 10 faces per job (got 11)"),
        (["multi", SOURCE, "--face", FACE, "--index", "-1"], "a face index is 0 or more"),
        (["multi", SOURCE, "--face", FACE, "--index", "first"], "not a face index"),
        (["swap", SOURCE], "the following arguments are required: FACE"),
        (["swap", SOURCE, FACE, "--timeout", "0"], "must be more than 0"),
        (["status", "x", "--url", "127.0.0.1:3000"], "--url must be an http(s) URL"),
        ([], "the following arguments are required: COMMAND"),
        (["unknown"], "invalid choice: 'unknown'"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message_and_send_nothing(api, argv, message, capsys):
    assert main(["--url", api.base_url, *argv] if "--url" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: swapgate") and message in err
    assert api.requests == []


def test_help_exits_0(capsys):
    assert main(["swap", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--wait" in out and "SWAPGATE_URL" in out
