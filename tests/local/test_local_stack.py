"""The whole stack from the real template: up, answering (functions in their own processes), then
fully stopped: no thread, port or process left."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import requests
from support import PROVIDER_KEY
from support.c2pa_certs import certificate_chain, read_manifest_store
from swapgate.provenance import COMPOSITE_TRAINED
from swapgate_dev.local import LocalSettings, LocalStack
from swapgate_dev.local.settings import LOCAL_C2PA_SECRET


def test_stack_starts_serves_and_stops_cleanly(still_running):
    before_env = dict(os.environ)
    before_threads = {thread.ident for thread in threading.enumerate()}
    settings = LocalSettings(
        api_port=0, aws_port=0, api_keys="k1,k2", webhook_secret="whsec_dGVzdA==", concurrency=3
    )
    stack = LocalStack(settings).start()
    try:
        assert stack.ready
        api, aws = stack.api_url, stack.aws_url
        response = requests.get(f"{api}/v1/openapi.json", headers={"x-api-key": "k2"}, timeout=30)
        assert response.status_code == 200
        assert requests.get(f"{api}/v1/swaps/nope", timeout=30).status_code == 401  # keys are enforced
        assert requests.get(f"{api}/", timeout=30).status_code == 200  # the playground page is public
        banner = stack.banner()
        for expected in (
            api,
            f"{api}/v1/docs",
            f"{api}/#key=k1",  # the playground, opened with the key
            aws,
            "swapgate-local",
            "swapgate-local-jobs",
            "k1",
            "whsec_dGVzdA==",
        ):
            assert expected in banner
        assert "astronaut.png" in banner and "grace_hopper.jpg" in banner and "x-api-key: k1" in banner
        # Every function sees the local settings; *_PARAM SSM names are gone.
        for function in stack.functions.values():
            assert function.env["AWS_ENDPOINT_URL"] == aws
            assert function.env["SWAPGATE_PUBLIC_URL"] == api
            assert function.env["SWAPGATE_ALLOW_PRIVATE_URLS"] == "1"
            assert not any(name.endswith("_PARAM") for name in function.env)
            assert function.limit == 3  # SWAPGATE_LOCAL_CONCURRENCY (the template reserves none)
            assert function.env.get("SWAPGATE_C2PA_SECRET_ID", "") == ""  # no signing by default
        assert {source.name for source in stack.sources} == {
            "InboxQueue->TriggerFunction",
            "NotifyQueue->NotifyFunction",
            "JobsTable->JobEventsFunction",  # the jobs table's change stream
        }
        # Once ready, the launcher boots and warms one environment per function in the background.
        deadline = time.monotonic() + 60
        while not all(fn.environments for fn in stack.functions.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        environments = [env.pid for fn in stack.functions.values() for env in fn.environments]
        processes = stack.launcher.pids
        assert sorted(processes) == sorted([*environments, stack.launcher.zygote_pid])
        api_port, aws_port = stack.api.port, stack.aws.port
    finally:
        stack.stop()
    assert not stack.ready
    for port in (api_port, aws_port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds
            probe.bind(("127.0.0.1", port))  # freed
    leftover = [
        thread
        for thread in threading.enumerate()
        if thread.ident not in before_threads
        and (not thread.daemon or thread.name == "api-gateway" or thread.name.startswith("sqs-"))
    ]
    assert leftover == []
    assert still_running(processes) == []
    assert dict(os.environ) == before_env


def test_concurrency_setting():
    assert LocalSettings.from_env({"SWAPGATE_LOCAL_CONCURRENCY": "4"}).concurrency == 4
    assert LocalSettings.from_env({}).concurrency == 10
    with pytest.raises(ValueError, match="SWAPGATE_LOCAL_CONCURRENCY"):
        LocalSettings.from_env({"SWAPGATE_LOCAL_CONCURRENCY": "0"})


def test_a_pem_file_makes_the_local_stack_sign_results(tmp_path, fake_ttapi):
    """SWAPGATE_C2PA_PEM_FILE: the stack puts the bundle in local Secrets Manager and sets the template's
    C2paSigningSecret to it, so results are signed as on AWS (the default run signs nothing)."""
    c2pa = pytest.importorskip("c2pa")
    chain, key, root = certificate_chain()
    pem = tmp_path / "signing.pem"
    pem.write_bytes(chain + key)
    settings = LocalSettings.from_env(
        {
            "SWAPGATE_API_PORT": "0",
            "SWAPGATE_AWS_PORT": "0",
            "SWAPGATE_API_KEYS": "k1",
            "SWAPGATE_LOCAL_CONCURRENCY": "2",
            "SWAPGATE_PROVIDER": "ttapi",
            "TTAPI_API_KEY": PROVIDER_KEY,
            "TTAPI_BASE_URL": fake_ttapi.base_url,
            "SWAPGATE_C2PA_PEM_FILE": str(pem),
        }
    )
    stack = LocalStack(settings).start()
    try:
        for logical_id in ("CallbackFunction", "PollFunction"):
            assert stack.functions[logical_id].env["SWAPGATE_C2PA_SECRET_ID"] == LOCAL_C2PA_SECRET
        image = f"{fake_ttapi.base_url}/cdn/a.png"
        answer = requests.post(
            f"{stack.api_url}/v1/swaps",
            json={"source_image": image, "face_image": image},
            headers={"x-api-key": "k1"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        deadline, job = time.monotonic() + 60, answer.json()
        while job["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = requests.get(
                f"{stack.api_url}/v1/swaps/{job['id']}", headers={"x-api-key": "k1"}, timeout=30
            ).json()
        assert job["status"] == "succeeded", job
        assert job["provenance"] == {"digital_source_type": COMPOSITE_TRAINED, "c2pa": True}
        result = requests.get(job["result_url"], timeout=30).content
        store = read_manifest_store(c2pa, result, "image/png", root)
        assert store["validation_state"] == "Trusted", store.get("validation_results")
    finally:
        stack.stop()
