"""``incident-notify``: watch your ticket notifications arrive, from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from incident_notify.api import ApiClient, ApiError, SessionExpired
from incident_notify.events import Notification
from incident_notify.render import Renderer, as_json
from incident_notify.stream import NotificationStream
from incident_notify.tokens import Tokens

DEFAULT_BASE = "http://localhost:8000"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Live ticket notifications of the incident system, in your terminal.

  incident-notify listen --username alice            # asks for the password
  incident-notify listen --base https://incidents.example.com --token "$ACCESS"

The stream survives network trouble: after a disconnect it reconnects (exponential backoff
with jitter) and resumes after the last notification it printed, so none is lost or shown
twice. Signed in with a username, it renews the access token before it expires. Ctrl-C stops.
"""

LISTEN_EPILOG = """\
environment:
  INCIDENT_BASE_URL   default for --base (else http://localhost:8000)
  INCIDENT_USERNAME   default for --username
  INCIDENT_PASSWORD   the password, instead of the prompt (avoid on shared machines)
  INCIDENT_TOKEN      default for --token
  NO_COLOR            set (to anything) to print without colours

output:
  Notifications go to stdout, one line each: local time, seq, type, message, ticket:
    10:00:00 #42   CREATED   New High priority ticket created: Homepage not loading (ticket #1)
  Connection news (connected, reconnecting, token renewed) goes to stderr.
  --json prints each notification as the server's JSON object, one per line.

exit status:
  0 after --count notifications, 1 when signing in or the session fails, 130 on Ctrl-C.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-notify",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listen = commands.add_parser(
        "listen",
        help="print notifications as they arrive",
        description="Connect to the notifications WebSocket and print each notification.",
        epilog=LISTEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listen.add_argument(
        "--base",
        default=os.environ.get("INCIDENT_BASE_URL", DEFAULT_BASE),
        help="base URL of the system, as in a browser (default: %(default)s)",
    )
    who = listen.add_argument_group("who you are (one of)")
    who.add_argument(
        "--username",
        default=os.environ.get("INCIDENT_USERNAME"),
        help="sign in as this user; the password is prompted for",
    )
    who.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of prompting",
    )
    who.add_argument(
        "--token",
        default=os.environ.get("INCIDENT_TOKEN"),
        help="an access token from POST /api/auth/login/ (it cannot be renewed: when it "
        "expires, the command stops)",
    )
    listen.add_argument(
        "--since",
        type=int,
        metavar="SEQ",
        help="first replay every notification after this seq (e.g. 0 for all of them)",
    )
    listen.add_argument(
        "--count",
        type=int,
        metavar="N",
        help="exit after printing N notifications",
    )
    listen.add_argument("--json", action="store_true", help="print notifications as JSON lines")
    listen.add_argument(
        "--no-color", action="store_true", help="no colours (default when not a terminal)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.username is None and args.token is None:
        parser.error("give --username (you will be asked for the password) or --token")
    password: str | None = None
    if args.token is None:
        password = _password(args.username, from_stdin=args.password_stdin)
    colour = not args.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    try:
        return asyncio.run(_listen(args, password, Renderer(colour=colour)))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return EXIT_INTERRUPTED


def _password(username: str, *, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    from_env = os.environ.get("INCIDENT_PASSWORD")
    if from_env is not None:
        return from_env
    return getpass.getpass(f"Password for {username}: ")


async def _listen(args: argparse.Namespace, password: str | None, renderer: Renderer) -> int:
    # SIGTERM stops as cleanly as Ctrl-C does: the socket is closed, not dropped.
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    async with ApiClient(args.base) as api:
        try:
            if password is not None:
                body = await api.login(args.username, password)
                user = body.get("user", {})
                _say(f"signed in as {user.get('full_name', args.username)} ({user.get('role')})")
            else:
                api.tokens = Tokens(access=args.token)
            return await _print_stream(api, args, renderer, sys.stdout)
        except SessionExpired as error:
            _say(f"session ended: {error.detail} Sign in again.")
            return EXIT_FAILED
        except ApiError as error:
            _say(f"error: {error}")
            return EXIT_FAILED
        except asyncio.CancelledError:
            _say("stopped")
            return EXIT_INTERRUPTED


async def _print_stream(
    api: ApiClient, args: argparse.Namespace, renderer: Renderer, out: TextIO
) -> int:
    printed = 0
    stream = NotificationStream(api, since=args.since)
    async with contextlib.aclosing(stream.events()) as events:
        async for event in events:
            if isinstance(event, Notification):
                out.write((as_json(event) if args.json else renderer.notification(event)) + "\n")
                out.flush()
                printed += 1
                if args.count is not None and printed >= args.count:
                    return EXIT_OK
            else:
                line = renderer.status(event)
                if line is not None:
                    _say(line)
    return EXIT_OK


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
