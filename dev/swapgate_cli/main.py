"""``swapgate``: its arguments, and the dispatch of a command to ``commands`` (the console script's
``main``). Usage and exit codes: see the package docstring."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from swapgate import __version__

from swapgate_cli.client import DEFAULT_TIMEOUT, Client
from swapgate_cli.commands import cmd_cancel, cmd_delete, cmd_faces, cmd_multi, cmd_status, cmd_swap
from swapgate_cli.errors import CliError

DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_API_KEY = "local-dev-key"  # the local stack's key (make dev)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a face index: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a face index is 0 or more: {text!r}")
    return value


def _connection_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--url/--api-key/--timeout, accepted before and after the command name."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=default(os.environ.get("SWAPGATE_URL") or DEFAULT_URL),
        help=f"the API's base URL (env SWAPGATE_URL; default {DEFAULT_URL}, the local stack)",
    )
    group.add_argument(
        "--api-key",
        default=default(os.environ.get("SWAPGATE_API_KEY") or DEFAULT_API_KEY),
        help="the client API key (env SWAPGATE_API_KEY; default: the local stack's key)",
    )
    group.add_argument(
        "--timeout",
        type=_positive,
        default=default(DEFAULT_TIMEOUT),
        help=f"seconds to wait for one HTTP answer (default {DEFAULT_TIMEOUT:g})",
    )


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider", help="aifaceswap, ttapi or builtin (also called local; default: the deployment's)"
    )
    parser.add_argument("--webhook", metavar="URL", help="an https URL called when the job ends")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait for the job and save its result (the API holds each request up to 20 s: Prefer: wait)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="where to save the result (implies --wait; default <job id>.<ext>; a directory works)",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--interval",
        type=_positive,
        default=1.0,
        help="first poll interval in seconds, when the API does not hold requests (default 1)",
    )
    parser.add_argument("--max-wait", type=_positive, metavar="SECONDS", help="give up waiting after this")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swapgate",
        description="Command-line client of the Swapgate face-swap API.",
        epilog="Images are file paths or http(s) URLs. Exit codes: 0 ok, 1 API or job error, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"swapgate {__version__}")
    _connection_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _connection_options(sub, defaults=False)
        sub.set_defaults(subparser=sub)
        return sub

    swap = command("swap", "put the face of FACE into SOURCE")
    swap.add_argument("source", metavar="SOURCE", help="the picture whose face is replaced")
    swap.add_argument("face", metavar="FACE", help="the face put in")
    _job_options(swap)
    swap.set_defaults(run=cmd_swap)

    multi = command("multi", "replace several faces of SOURCE: each --face goes to the face at its --index")
    multi.add_argument("source", metavar="SOURCE")
    multi.add_argument(
        "--face", dest="faces", action="append", default=[], metavar="FACE", help="a face (repeat)"
    )
    multi.add_argument(
        "--index",
        dest="indexes",
        action="append",
        type=_index,
        default=[],
        metavar="N",
        help="the index (from `swapgate faces`) of the face the --face of the same position replaces",
    )
    _job_options(multi)
    multi.set_defaults(run=cmd_multi)

    faces = command("faces", "list the faces in IMAGE: `index: x1,y1,x2,y2`, the index used by multi")
    faces.add_argument("image", metavar="IMAGE")
    faces.add_argument("--provider", help="the provider that detects (default: the deployment's)")
    faces.add_argument("--json", action="store_true", help="print the API's JSON answer")
    faces.set_defaults(run=cmd_faces)

    status = command("status", "show a job")
    status.add_argument("id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the API's JSON answer")
    status.set_defaults(run=cmd_status)

    cancel = command("cancel", "cancel a queued or running job")
    cancel.add_argument("id", metavar="ID")
    cancel.add_argument("--json", action="store_true", help="print the API's JSON answer")
    cancel.set_defaults(run=cmd_cancel)

    delete = command(
        "delete", "delete a job's data: its inputs, result and personal fields (cancels it if running)"
    )
    delete.add_argument("id", metavar="ID")
    delete.add_argument("--json", action="store_true", help="print the API's JSON answer")
    delete.set_defaults(run=cmd_delete)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code or 0)
    if args.command == "multi":
        if not args.faces:
            return _usage(args.subparser, "give at least one --face with its --index")
        if len(args.faces) != len(args.indexes):
            return _usage(
                args.subparser,
                f"give one --index for each --face, in the same order "
                f"(got {len(args.faces)} --face and {len(args.indexes)} --index)",
            )
        if len(args.faces) > 10:
            return _usage(args.subparser, f"at most 10 faces per job (got {len(args.faces)})")
    if getattr(args, "output", None) is not None:
        args.wait = True
    if not re.match(r"(?i)^https?://[^/]", args.url):
        return _usage(args.subparser, f"--url must be an http(s) URL, not {args.url!r}")
    client = Client(args.url, args.api_key, args.timeout)
    try:
        return args.run(client, args)
    except CliError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        client.close()


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    """A usage error found after parsing, shown as argparse shows its own."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2
