"""The whole local stack: local AWS (moto), the template's resources, the functions, the SQS event
sources and the API, started in that order and stopped in reverse. Everything runs in this process
except the functions: their execution environments are processes (``runtime``). Their launcher
boots once the stack is ready, in the background, and one environment per function is then warmed
up, so the stack is ready before any function has started."""

from __future__ import annotations

import logging
import os
import shlex
import threading
import time
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from swapgate_dev.local import provision
from swapgate_dev.local.apigw import ApiGatewayEmulator
from swapgate_dev.local.aws import MotoServer
from swapgate_dev.local.environments import Launcher, LaunchError
from swapgate_dev.local.functions import build_functions
from swapgate_dev.local.runtime import LambdaFunction
from swapgate_dev.local.sam import SamTemplate
from swapgate_dev.local.settings import (
    AWS_CREDENTIALS,
    LOCAL_C2PA_SECRET,
    REGION,
    REPO_ROOT,
    LocalSettings,
)
from swapgate_dev.local.sqs import SqsEventSource
from swapgate_dev.local.stream_source import StreamEventSource
from swapgate_dev.streams import stream_mappings

log = logging.getLogger("swapgate_dev.local")

# The logical ids (docs/ARCHITECTURE.md) whose names the local stack fixes.
BUCKET_ID = "Bucket"
TABLE_ID = "JobsTable"


class LocalStack:
    """``start()`` brings everything up (``ready`` is then true); ``stop()`` ends it all."""

    def __init__(self, settings: LocalSettings | None = None) -> None:
        self.settings = settings or LocalSettings.from_env()
        self.template = SamTemplate(self.settings.template)
        self.aws: MotoServer | None = None
        self.api: ApiGatewayEmulator | None = None
        self.deployment: provision.Deployment | None = None
        self.functions: dict[str, LambdaFunction] = {}
        self.launcher: Launcher | None = None
        self._warm_up: threading.Thread | None = None
        self._stopping = threading.Event()
        self.sources: list[SqsEventSource | StreamEventSource] = []
        self._clients: list[Any] = []
        self.ready = False
        self.startup_seconds: float | None = None
        self._saved_env: dict[str, str | None] = {}

    # -- environment --------------------------------------------------------------------------
    def _set_process_env(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_process_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    @property
    def aws_url(self) -> str:
        assert self.aws is not None
        return self.aws.url

    @property
    def api_url(self) -> str:
        assert self.api is not None
        return self.api.url

    def function_env(self, public_url: str) -> dict[str, str]:
        """What every function sees on top of its template environment."""
        settings = self.settings
        env = {
            **AWS_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.aws_url,
            "SWAPGATE_BUCKET": settings.bucket,
            "SWAPGATE_TABLE": settings.table,
            "SWAPGATE_PROVIDER": settings.provider,
            "SWAPGATE_API_KEYS": settings.api_keys,
            "SWAPGATE_SIGNING_SECRET": settings.signing_secret,
            "SWAPGATE_WEBHOOK_SECRET": settings.webhook_secret,
            "SWAPGATE_PUBLIC_URL": public_url,
            "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            **settings.providers,
        }
        # A variable the template declares and the developer has set wins over the template.
        declared = set()
        for spec in self.template.functions().values():
            declared.update(spec.environment)
        for name in sorted(declared):
            if name not in env and os.environ.get(name):
                env[name] = os.environ[name]
        return env

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> LocalStack:
        started = time.monotonic()
        self._stopping.clear()
        settings = self.settings
        try:
            self.launcher = Launcher()  # boots once the stack is ready (``_warm_functions``)
            self.aws = MotoServer(settings.host, settings.aws_port)
            self.aws.start()
            self._set_process_env(
                {
                    **AWS_CREDENTIALS,
                    "AWS_REGION": REGION,
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_ENDPOINT_URL": self.aws.url,
                }
            )
            self.deployment = provision.plan(
                self.template,
                endpoint_url=self.aws.url,
                region=REGION,
                parameters=settings.template_parameters(),
                physical_names={BUCKET_ID: settings.bucket, TABLE_ID: settings.table},
            )
            provision.deploy(self.deployment)
            if settings.c2pa_pem_file is not None:
                self._create_c2pa_secret(settings.c2pa_pem_file.read_text())

            public_url = settings.public_url or f"http://{settings.host}:{settings.api_port}"
            env = self.function_env(public_url)
            self.functions = build_functions(
                self.deployment, env=env, max_concurrency=settings.concurrency, launcher=self.launcher
            )
            for function in self.functions.values():
                self.aws.router.register(function)

            self.api = ApiGatewayEmulator(
                template=self.template,
                functions=self.functions,
                host=settings.host,
                port=settings.api_port,
                parameters=settings.template_parameters(),
            ).start()
            if settings.public_url is None and settings.api_port == 0:
                for function in self.functions.values():
                    function.env["SWAPGATE_PUBLIC_URL"] = self.api.url

            sqs = boto3.client(
                "sqs",
                endpoint_url=self.aws.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
                config=Config(connect_timeout=5, read_timeout=30),
            )
            self._clients.append(sqs)
            for source in self.template.sqs_sources():
                if not source.enabled or source.function_id not in self.functions:
                    continue
                queue_arn = str(self.deployment.resolver.resolve(source.queue))
                queue_id = self.deployment.queue_by_arn(queue_arn)
                function = self.functions[source.function_id]
                event_source = SqsEventSource(
                    sqs,
                    self.deployment.queue_urls[queue_id],
                    queue_arn,
                    function.invoke,
                    name=f"{queue_id}->{source.function_id}",
                    batch_size=source.batch_size,
                    report_batch_item_failures=source.report_batch_item_failures,
                    region=REGION,
                )
                event_source.start()
                self.sources.append(event_source)
            self._start_stream_sources()
            self._warm_up = threading.Thread(target=self._warm_functions, name="warm-up", daemon=True)
            self._warm_up.start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        self.ready = True
        return self

    def _create_c2pa_secret(self, bundle: str) -> None:
        """The C2PA signing secret the template parameter names (``LOCAL_C2PA_SECRET``), in local AWS."""
        client = boto3.client(
            "secretsmanager",
            endpoint_url=self.aws_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            config=Config(connect_timeout=5, read_timeout=30),
        )
        client.create_secret(Name=LOCAL_C2PA_SECRET, SecretString=bundle)
        client.close()
        log.info("results are C2PA-signed with %s", self.settings.c2pa_pem_file)

    def _start_stream_sources(self) -> None:
        """The template's DynamoDB stream events (the jobs table's change stream -> JobEventsFunction)."""
        clients = {
            service: boto3.client(
                service,
                endpoint_url=self.aws.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
                config=Config(connect_timeout=5, read_timeout=30),
            )
            for service in ("dynamodb", "dynamodbstreams")
        }
        self._clients.extend(clients.values())
        for mapping in stream_mappings(self.template):
            if mapping.function_id not in self.functions:
                continue
            source = StreamEventSource.for_mapping(
                mapping,
                streams=clients["dynamodbstreams"],
                dynamodb=clients["dynamodb"],
                table_name=str(self.deployment.resolver.resolve({"Ref": mapping.table_id})),
                invoke=self.functions[mapping.function_id].invoke,
            )
            self.sources.append(source.start())

    def _warm_functions(self) -> None:
        """Boot the launcher, then start one environment per function, so init errors show at once
        and first events find one warm. (Booting earlier would slow the start on a busy machine.)"""
        try:
            if self.launcher is not None:
                self.launcher.start()
        except LaunchError:
            return  # stopped meanwhile
        for function in self.functions.values():
            if self._stopping.is_set():
                return
            try:
                function.warm_up()
            except Exception as exc:
                if not self._stopping.is_set():
                    log.error("%s cannot start: %s", function.name, exc)

    def stop(self) -> None:
        self.ready = False
        self._stopping.set()
        if self.api is not None:
            self.api.stop()
            self.api = None
        for source in self.sources:
            source.stop()
        self.sources.clear()
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.aws is not None:
            self._stop_executions()
        for function in self.functions.values():
            function.stop()
        if self.launcher is not None:
            self.launcher.stop()  # every environment and the zygote
        if self._warm_up is not None:
            self._warm_up.join(10)
            self._warm_up = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        self._restore_process_env()

    def _stop_executions(self) -> None:
        """Stop running poller executions, so no interpreter thread outlives the stack."""
        if self.deployment is None or self.aws is None:
            return
        try:
            sfn = boto3.client(
                "stepfunctions",
                endpoint_url=self.aws.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106
                config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
            )
            for arn in self.deployment.state_machine_arns.values():
                pages = sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=arn, statusFilter="RUNNING"
                )
                for page in pages:
                    for execution in page["executions"]:
                        sfn.stop_execution(
                            executionArn=execution["executionArn"], cause="local stack stopped"
                        )
        except Exception:
            log.warning("could not stop the running poller executions", exc_info=True)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- banner -------------------------------------------------------------------------------
    def banner(self) -> str:
        settings = self.settings
        faces = REPO_ROOT / "tests" / "fixtures" / "faces"
        source, face = faces / "astronaut.png", faces / "grace_hopper.jpg"
        curl = " ".join(
            [
                "curl -sS",
                f"-H {shlex.quote('x-api-key: ' + settings.api_key)}",
                f"-F source_image=@{shlex.quote(str(source))}",
                f"-F face_image=@{shlex.quote(str(face))}",
                f"{self.api_url}/v1/swaps",
            ]
        )
        public_url = settings.public_url or self.api_url
        lines = [
            "",
            "Swapgate local stack",
            f"  API             {self.api_url}",
            f"  Playground      {self.api_url}/#key={settings.api_key}   (opens with the key)",
            f"  Swagger UI      {self.api_url}/v1/docs",
            f"  AWS endpoint    {self.aws_url}   (any credentials, region {REGION})",
            f"  bucket          {settings.bucket}",
            f"  table           {settings.table}",
            f"  API key         {settings.api_key}   (header x-api-key)",
            f"  webhook secret  {settings.webhook_secret}",
            f"  providers       {', '.join(settings.configured_providers())} (default {settings.provider})",
            f"  callbacks to    {public_url}",
            "",
            "Swap the two fixture faces:",
            f"  {curl}",
            f"  then: curl -sS -H {shlex.quote('x-api-key: ' + settings.api_key)} {self.api_url}/v1/swaps/<id>",
            "",
        ]
        return "\n".join(lines)

    def describe(self) -> dict[str, Any]:
        """Machine-readable facts about the running stack."""
        return {
            "api_url": self.api_url,
            "aws_url": self.aws_url,
            "bucket": self.settings.bucket,
            "table": self.settings.table,
            "startup_seconds": self.startup_seconds,
        }
