"""What each command does and prints: swap, multi, faces, status, cancel, delete (``args`` from ``main``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from swapgate_cli import progress
from swapgate_cli.client import Answer, Client
from swapgate_cli.errors import CliError
from swapgate_cli.images import ImageArg, prepare
from swapgate_cli.progress import TERMINAL, Progress, server_wait, wait_for


def finish(client: Client, job: dict[str, Any], args: argparse.Namespace) -> int:
    """After waiting: save a result, or report how the job ended."""
    status = job.get("status")
    if status != "succeeded":
        error = job.get("error") or {}
        code = error.get("code") or status
        message = error.get("message") or f"the job ended {status}"
        raise CliError(f"job {job['id']} {status}: {code}: {message}")
    if not job.get("result_url"):
        raise CliError(f"job {job['id']} succeeded but its answer has no result_url")
    saved = client.download(job["result_url"], args.output, job["id"])
    if args.json:
        _print_json({**job, "output": str(saved)})
    else:
        print(saved)
    return 0


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def _create(
    client: Client, path: str, parts: list[tuple[str, Any]], args: argparse.Namespace, **options: Any
) -> int:
    """Submit the job; with --wait, asking the API to answer when it ends (``Prefer: wait``)."""
    start = progress.monotonic()
    wait = server_wait(client.timeout, args.max_wait) if args.wait else None
    return _submitted(client, client.create(path, parts, wait=wait, **options), args, start)


def _submitted(client: Client, answer: Answer, args: argparse.Namespace, start: float) -> int:
    accepted = answer.body
    if not args.wait:
        if args.json:
            _print_json(accepted)
        else:
            print(accepted["id"])
        return 0
    if not args.quiet:
        print(f"job {accepted['id']} accepted by provider {accepted.get('provider')}", file=sys.stderr)
    shown = Progress(sys.stderr, accepted["id"], args.quiet)
    status = accepted.get("status")
    if answer.status != 202 and status in TERMINAL:  # the API waited and the job has ended: no polling
        shown.line(f"job {accepted['id']}: {status}", progress.monotonic() - start)
        return finish(client, accepted, args)
    try:
        job = wait_for(
            client,
            accepted["id"],
            interval=args.interval,
            max_wait=args.max_wait,
            progress=shown,
            start=start,
        )
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; job {accepted['id']} goes on: see it with `swapgate status {accepted['id']}`",
            exit_code=130,
        ) from None
    return finish(client, job, args)


def _options(args: argparse.Namespace) -> list[tuple[str, Any]]:
    return [(name, value) for name in ("provider", "webhook") if (value := getattr(args, name, None))]


def cmd_swap(client: Client, args: argparse.Namespace) -> int:
    images = [("source_image", ImageArg.parse(args.source)), ("face_image", ImageArg.parse(args.face))]
    parts = prepare(client, images, sys.stderr) + _options(args)
    return _create(client, "/v1/swaps", parts, args)


def cmd_multi(client: Client, args: argparse.Namespace) -> int:
    images = [("source_image", ImageArg.parse(args.source))]
    images += [("face_images", ImageArg.parse(face)) for face in args.faces]
    parts = prepare(client, images, sys.stderr)
    parts += [("indexes", index) for index in args.indexes] + _options(args)
    return _create(client, "/v1/swaps/multi", parts, args, list_fields=("face_images", "indexes"))


def cmd_faces(client: Client, args: argparse.Namespace) -> int:
    parts = prepare(client, [("image", ImageArg.parse(args.image))], sys.stderr) + _options(args)
    answer = client.submit("/v1/faces", parts)
    if args.json:
        _print_json(answer)
        return 0
    faces = answer.get("faces") or []
    for index, box in enumerate(faces):
        print(f"{index}: {','.join(str(v) for v in box)}")
    if not faces:
        print("no faces found", file=sys.stderr)
    return 0


def _print_job(job: dict[str, Any]) -> None:
    for key in ("id", "status", "provider", "created_at", "updated_at", "points", "result_url"):
        if job.get(key) is not None:
            print(f"{key + ':':<12}{job[key]}")
    error = job.get("error")
    if error:
        field = f" (field: {error['field']})" if error.get("field") else ""
        print(f"{'error:':<12}{error.get('code')}: {error.get('message')}{field}")


def _show(job: dict, args: argparse.Namespace, line: str | None = None) -> None:
    """The job as JSON (``--json``), else ``line`` or the job's fields."""
    if args.json:
        _print_json(job)
    elif line is not None:
        print(line)
    else:
        _print_job(job)


def cmd_status(client: Client, args: argparse.Namespace) -> int:
    _show(client.call("GET", f"/v1/swaps/{_job_id(args.id)}"), args)
    return 0


def cmd_cancel(client: Client, args: argparse.Namespace) -> int:
    job = client.call("POST", f"/v1/swaps/{_job_id(args.id)}/cancel")
    _show(job, args, f"{job.get('id')}: {job.get('status')}")
    if job.get("status") != "canceled":
        print(f"the job had already ended {job.get('status')}: nothing was canceled", file=sys.stderr)
    return 0


def cmd_delete(client: Client, args: argparse.Namespace) -> int:
    """Purge the job: cancel it if it runs, remove its inputs, result and personal fields."""
    job = client.call("DELETE", f"/v1/swaps/{_job_id(args.id)}")
    _show(job, args, f"{job.get('id')}: {job.get('status')}, data removed")
    return 0


def _job_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise CliError(f"not a job id: {value!r}", exit_code=2)
    return value
