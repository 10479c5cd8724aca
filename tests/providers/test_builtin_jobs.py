"""The built-in engine's job record and its life outside the engine itself: what a record holds, deadlines
(a crashed or timed-out engine still ends the job), taking a job once (Lambda's retried events are
harmless), and the EngineFunction dispatch (events, answers, errors). The engine is a stand-in here;
tests/engine/ runs the real one, and the shipped bundle."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from swapgate.errors import InvalidRequest, NoFaceDetected, ProviderBusy, ProviderError, SwapgateError
from swapgate.providers import builtin_jobs as jobs
from swapgate.providers.base import ImageInput, ProviderState
from swapgate.providers.builtin import BuiltinProvider
from swapgate.providers.builtin_dispatch import EngineEvent, LambdaDispatch, ThreadDispatch
from swapgate.providers.builtin_runner import EngineRunner

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
BUCKET = "swapgate-builtin-jobs"
PNG = (FACES / "astronaut.png").read_bytes()
JPEG = (FACES / "grace_hopper.jpg").read_bytes()


class StubEngine:
    """Answers like the engine: the source back for a swap, one box per detect; or raises ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[str] = []

    def swap(self, source: bytes, face: bytes) -> bytes:
        self.calls.append("swap")
        if self.error:
            raise self.error
        return source

    def multi_swap(self, source: bytes, faces: list[bytes], indexes: list[int]) -> bytes:
        self.calls.append(f"multi_swap {indexes}")
        return source

    def detect(self, data: bytes) -> list[list[int]]:
        self.calls.append("detect")
        return [[1, 2, 3, 4]]


class Later:
    """A dispatch that keeps the job ids instead of running them."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)


@pytest.fixture
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("SWAPGATE_ENGINE_FUNCTION", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def later() -> Later:
    return Later()


@pytest.fixture
def provider(s3, later) -> BuiltinProvider:
    return BuiltinProvider(bucket=BUCKET, s3=s3, dispatch=later)


@pytest.fixture
def engine() -> StubEngine:
    return StubEngine()


@pytest.fixture
def runner(s3, engine) -> EngineRunner:
    return EngineRunner(BUCKET, s3, engine=engine, sleep=lambda _: None)


def record(s3, job_id: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=jobs.state_key(job_id))["Body"].read())


def rewrite(s3, job_id: str, **changes) -> None:
    body = {**record(s3, job_id), **changes}
    s3.put_object(Bucket=BUCKET, Key=jobs.state_key(job_id), Body=json.dumps(body).encode())


def past(seconds: int = 1) -> str:
    return (jobs.now() - timedelta(seconds=seconds)).isoformat()


# --- the record ------------------------------------------------------------------------------------


def test_the_record_says_what_to_do_and_inputs_wait_in_the_bucket(provider, s3, later):
    job = provider.multi_swap(
        ImageInput.from_url("https://images.example/group.jpg"),
        [ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG)],
        [1, 0],
        "https://api.example/callbacks/builtin/job_1?token=t",
    )
    assert later.submitted == [job.job_id] and job.job_id.startswith("builtin-")
    state = record(s3, job.job_id)
    assert state["state"] == "queued" and state["operation"] == "multi_swap"
    assert state["request"] == {
        "source": {"url": "https://images.example/group.jpg"},
        "faces": [{"key": f"engine/{job.job_id}/face-0.png"}, {"key": f"engine/{job.job_id}/face-1.jpg"}],
        "indexes": [1, 0],
        "webhook_url": "https://api.example/callbacks/builtin/job_1?token=t",
    }
    stored = s3.get_object(Bucket=BUCKET, Key=f"engine/{job.job_id}/face-1.jpg")
    assert stored["Body"].read() == JPEG and stored["ContentType"] == "image/jpeg"
    queued_for = jobs.datetime.fromisoformat(state["deadline"]) - jobs.datetime.fromisoformat(
        state["created_at"]
    )
    assert queued_for == timedelta(seconds=jobs.QUEUED_SECONDS)


def test_old_local_ids_are_still_read(provider, s3):
    old = "local-" + "d" * 32
    s3.put_object(
        Bucket=BUCKET,
        Key=jobs.state_key(old),
        Body=json.dumps(
            {"job_id": old, "state": "succeeded", "result_url": f"s3://{BUCKET}/engine/{old}.png"}
        ),
    )
    job = provider.fetch(old)
    assert job.state is ProviderState.SUCCEEDED and job.provider == "builtin"


# --- deadlines: an engine that never ends the job still ends it ------------------------------------


@pytest.mark.parametrize("state", ["queued", "running"])
def test_a_record_past_its_deadline_reads_as_failed(provider, s3, state):
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    rewrite(s3, job.job_id, state=state, deadline=past())
    fetched = provider.fetch(job.job_id)
    assert fetched.state is ProviderState.FAILED
    assert fetched.error_code == "provider_job_failed"
    assert "stopped before finishing" in fetched.error_message


def test_a_record_within_its_deadline_is_left_alone(provider, s3):
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    assert provider.fetch(job.job_id).state is ProviderState.QUEUED
    rewrite(s3, job.job_id, state="succeeded", result_url=f"s3://{BUCKET}/x.png", deadline=past())
    assert provider.fetch(job.job_id).state is ProviderState.SUCCEEDED  # ended jobs have no deadline


def test_running_deadline_is_the_runs_own_limit_plus_grace(provider, runner, s3, engine):
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    engine.error = RuntimeError("killed")  # the run ends failed; its record keeps the run's deadline
    runner.run(job.job_id, seconds=42)
    state = record(s3, job.job_id)
    limit = jobs.datetime.fromisoformat(state["deadline"]) - jobs.datetime.fromisoformat(state["started_at"])
    assert limit == timedelta(seconds=42 + jobs.GRACE_SECONDS)
    assert state["state"] == "failed" and state["error"]["code"] == "internal_error"


# --- taking a job once -----------------------------------------------------------------------------


def test_run_takes_a_queued_job_once(provider, runner, s3, engine):
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    assert runner.run(job.job_id) == "succeeded"
    assert runner.run(job.job_id) == "skipped"  # a repeated or retried event
    assert engine.calls == ["swap"]
    state = record(s3, job.job_id)
    assert state["result_url"] == f"s3://{BUCKET}/engine/{job.job_id}.png"
    assert s3.get_object(Bucket=BUCKET, Key=f"engine/{job.job_id}.png")["Body"].read() == PNG


@pytest.mark.parametrize(
    "changes", [{"state": "running"}, {"state": "failed"}, {"deadline": "2000-01-01T00:00:00+00:00"}]
)
def test_run_leaves_a_job_that_is_not_queued_or_is_stale(provider, runner, s3, engine, changes):
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    rewrite(s3, job.job_id, **changes)
    assert runner.run(job.job_id) == "skipped"
    assert engine.calls == []


def test_two_invocations_racing_for_a_job_run_it_once(provider, s3, engine):
    """The record is taken with a conditional write: the slower of two takers finds it changed."""
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))

    class RacingS3:
        def __init__(self) -> None:
            self.raced = False

        def get_object(self, **kwargs):
            answer = s3.get_object(**kwargs)
            if not self.raced and kwargs["Key"] == jobs.state_key(job.job_id):
                self.raced = True
                EngineRunner(BUCKET, s3, engine=StubEngine()).run(job.job_id)  # the other invocation
            return answer

        def __getattr__(self, name):
            return getattr(s3, name)

    assert EngineRunner(BUCKET, RacingS3(), engine=engine).run(job.job_id) == "skipped"
    assert engine.calls == []
    assert record(s3, job.job_id)["state"] == "succeeded"


def test_unknown_job_is_an_error(runner):
    from swapgate.errors import ProviderJobNotFound

    with pytest.raises(ProviderJobNotFound):
        runner.run("builtin-" + "e" * 32)
    with pytest.raises(ProviderJobNotFound):
        runner.run("../../etc/passwd")


def test_engine_errors_end_the_job_with_their_code(provider, runner, s3, engine):
    engine.error = NoFaceDetected("no face was found in the face image", field="face_image")
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    assert runner.run(job.job_id) == "failed"
    fetched = provider.fetch(job.job_id)
    assert fetched.error_code == "no_face_detected" and "face image" in fetched.error_message


def test_an_input_key_outside_engine_is_refused(runner, s3):
    with pytest.raises(SwapgateError) as err:
        runner.read({"key": "results/someone-else.png"}, "source_image", "source image")
    assert err.value.code == "invalid_image"


# --- the EngineFunction's events and the dispatch --------------------------------------------------


def test_engine_events():
    assert EngineEvent.parse({"action": "run", "job_id": "builtin-x"}) == EngineEvent(
        "run", job_id="builtin-x"
    )
    assert EngineEvent.parse({"action": "detect", "image": {"key": "engine/a.png"}}).image == {
        "key": "engine/a.png"
    }
    for bad in (None, [], {}, {"action": "run"}, {"action": "detect", "image": {"key": "a", "url": "b"}}):
        with pytest.raises(InvalidRequest):
            EngineEvent.parse(bad)


def test_a_run_event_for_an_unknown_job_is_answered_not_retried(runner):
    answer = EngineEvent("run", job_id="builtin-" + "f" * 32).handle(runner, 10)
    assert answer["error"]["code"] == "provider_job_not_found" and answer["status"] == 404


def test_detect_event_answers_errors_as_data(runner):
    answer = EngineEvent("detect", image={"url": "https://127.0.0.1/x.png"}).handle(runner, 10)
    assert answer["status"] == 400 and answer["error"]["code"] == "invalid_request"  # a refused URL


class FakeLambda:
    """boto3's Lambda client as the dispatch uses it: records invokes, answers what it is told."""

    def __init__(self, answer: dict | None = None, *, function_error: bool = False, error: str | None = None):
        self.answer = answer or {}
        self.function_error = function_error
        self.error = error
        self.invokes: list[dict] = []

    def invoke(self, **kwargs):
        self.invokes.append({**kwargs, "Payload": json.loads(kwargs["Payload"])})
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "Invoke")
        answer = {"StatusCode": 202 if kwargs["InvocationType"] == "Event" else 200}
        answer["Payload"] = io.BytesIO(json.dumps(self.answer).encode())
        if self.function_error:
            answer["FunctionError"] = "Unhandled"
        return answer


def test_an_engine_function_gets_the_job_as_an_async_event(s3, monkeypatch):
    monkeypatch.setenv("SWAPGATE_ENGINE_FUNCTION", "swapgate-EngineFunction")
    monkeypatch.setattr("swapgate.providers.builtin.engine_available", lambda: False)  # as on AWS
    provider = BuiltinProvider(bucket=BUCKET, s3=s3)
    assert isinstance(provider.dispatch, LambdaDispatch)
    fake = provider.dispatch._client = FakeLambda()
    job = provider.swap(ImageInput.from_bytes(PNG), ImageInput.from_bytes(JPEG))
    assert fake.invokes == [
        {
            "FunctionName": "swapgate-EngineFunction",
            "InvocationType": "Event",
            "Payload": {"action": "run", "job_id": job.job_id},
        }
    ]
    assert job.state is ProviderState.QUEUED


def test_without_an_engine_function_jobs_run_in_threads(s3):
    assert isinstance(BuiltinProvider(bucket=BUCKET, s3=s3).dispatch, ThreadDispatch)


def test_detect_on_the_engine_function_stores_bytes_and_reads_the_answer(s3):
    fake = FakeLambda({"faces": [[1, 2, 3, 4]]})
    provider = BuiltinProvider(bucket=BUCKET, s3=s3, dispatch=LambdaDispatch("fn", client=fake))
    assert provider.extract_faces(ImageInput.from_bytes(PNG)).faces == [[1, 2, 3, 4]]
    (invoke,) = fake.invokes
    assert invoke["InvocationType"] == "RequestResponse"
    key = invoke["Payload"]["image"]["key"]
    assert key.startswith("engine/detect-") and s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == PNG
    provider.extract_faces(ImageInput.from_url("https://images.example/a.png"))
    assert fake.invokes[1]["Payload"]["image"] == {"url": "https://images.example/a.png"}


def test_engine_function_errors():
    refused = FakeLambda(
        {"error": {"code": "invalid_image", "message": "bad", "field": "image"}, "status": 415}
    )
    with pytest.raises(SwapgateError) as err:
        LambdaDispatch("fn", client=refused).detect(
            ImageInput.from_url("https://a/b.png"), lambda: {"url": "x"}
        )
    assert (err.value.code, err.value.status, err.value.field) == ("invalid_image", 415, "image")
    with pytest.raises(ProviderError):
        LambdaDispatch("fn", client=FakeLambda(function_error=True)).detect(
            ImageInput.from_url("https://a/b.png"), lambda: {"url": "x"}
        )
    with pytest.raises(ProviderBusy):
        LambdaDispatch("fn", client=FakeLambda(error="TooManyRequestsException")).submit("builtin-x")
    with pytest.raises(ProviderError) as err:
        LambdaDispatch("fn", client=FakeLambda(error="AccessDeniedException")).submit("builtin-x")
    assert not isinstance(err.value, ProviderBusy)
