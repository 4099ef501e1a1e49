"""`gitops` (or `python -m gitops`): the commands of gitops.commands.COMMANDS.

A GitopsError becomes `error: <message>` on stderr and its exit code; with
`--output json` the error is also a JSON object on stdout, so a pipeline reading stdout always gets
one. A usage mistake is exit 2 and never echoes a token: argument values that may be one (what
follows a `--token…` option, a word equal to the value of an environment variable) are masked.

SIGTERM (how CodeBuild stops a build) and SIGHUP end the command like Ctrl-C: the exception
unwinds through the commands' `finally` blocks, which remove the temporary clone and stop git, and
the process exits 128 + the signal's number with one line, no traceback. Output into a pipe its
reader closed (`gitops history | head -1`) ends the command quietly with 141, the status of a tool
SIGPIPE stops.

A mistyped option is reported with the usage of its command and the closest option it has
(`--digets`: did you mean --digest?). `gitops --help` lists every exit code (gitops.errors).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import signal
import sys
import threading
from typing import NoReturn

from gitops import output
from gitops.clients.credentials import REDACTED
from gitops.commands import COMMANDS, MODULES
from gitops.errors import GitopsError, UsageError, exit_codes

OUTPUT_FORMATS = {
    "text": "text: lines for people (default)",
    "json": 'json: one JSON object on stdout for pipelines, on failure too ({"error": …, "exit_code": …})',
    "csv": "csv: one row per change with a header, for spreadsheets",
}
# The version `gitops --version` prints and the package is built with (pyproject.toml reads it).
__version__ = "0.1.0"
# Signals that stop the command the way Ctrl-C (SIGINT) does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The exit status when stdout's reader has gone: what a tool SIGPIPE stops reports.
CLOSED_PIPE = 128 + signal.SIGPIPE
# Environment values shorter than this are not masked in usage errors (too many false matches).
_MIN_SECRET_LENGTH = 8


class Stopped(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt, so no `except Exception`
    in a command swallows it; `finally` blocks and `with` exits still run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _ParserError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class GitopsParser(argparse.ArgumentParser):
    """An ArgumentParser that reports mistakes to `main` instead of exiting, and takes no
    abbreviations (`--token=x` would otherwise be an ambiguous abbreviation echoed back)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise _ParserError(self, message)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv` naming a command, only that command's module is imported, so a
    promotion does not pay for what verify imports (and the reverse)."""
    parser = GitopsParser(prog="gitops", description="GitOps tooling of the delivery pipelines",
                          epilog=_exit_code_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = COMMANDS.get(argv[0]) if argv else None
    chosen = [command.module] if command else MODULES
    for name in chosen:
        importlib.import_module(name).register(subparsers)
    for command in subparsers.choices.values():
        command.epilog = "exit codes: see `gitops --help`"
        for action in command._actions:
            if "--output" in action.option_strings and action.help is None:
                action.help = _output_help(action.choices)
    return parser


def _output_help(choices: list[str]) -> str:
    """The help of `--output` for the formats a command has."""
    return "; ".join(OUTPUT_FORMATS[choice] for choice in choices)


def _exit_code_help() -> str:
    lines = ["exit codes:", "  0    success, including a no-op"]
    lines += [f"  {code:<4} {meaning or name}" for code, name, meaning in exit_codes()]
    lines.append(f"  {128 + signal.SIGINT}, {128 + signal.SIGTERM}, {128 + signal.SIGHUP} "
                 "stopped by SIGINT, SIGTERM, SIGHUP (128 + the signal)")
    lines.append(f"  {CLOSED_PIPE}  stdout closed by its reader (gitops history | head)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    json_output = _wants_json(argv)
    # Handlers can only be installed from the main thread (tests also call main from others).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {signum: signal.signal(signum, _stop) for signum in STOP_SIGNALS} if in_main_thread else {}
    try:
        parser = build_parser(argv)
        try:
            args = _parse(parser, _attach_dash_values(parser, argv))
        except _ParserError as e:
            e.parser.print_usage(sys.stderr)
            return _fail(UsageError(_mask(str(e), argv)), json_output)
        try:
            code = args.func(args)
        except GitopsError as e:
            code = _fail(e, json_output)
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except (Stopped, KeyboardInterrupt) as e:
        signum = e.signum if isinstance(e, Stopped) else signal.SIGINT
        name = signal.Signals(signum).name
        error = GitopsError(f"stopped by {name}; the temporary clone was removed, and nothing "
                            "was pushed unless a push had already completed")
        error.exit_code = 128 + signum
        return _fail(error, json_output)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments; a word no option of the command takes is reported by the command's parser
    (its usage, not the top level's), naming the command's closest option."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = _command_parser(parser, argv) or parser
        message = f"unrecognized arguments: {' '.join(unknown)}"
        options = [o for o in command._option_string_actions if o.startswith("--")]
        closest = difflib.get_close_matches(unknown[0].split("=", 1)[0], options, n=1)
        if unknown[0].startswith("-") and closest:
            message += f"; did you mean {closest[0]}?"
        raise _ParserError(command, message)
    return args


def _closed_pipe() -> int:
    """stdout's reader went away: end quietly. stdout is pointed at /dev/null first, so the
    interpreter's last flush at exit does not fail on the same pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # a stdout without a file descriptor (replaced in a test) needs nothing
    return CLOSED_PIPE


def _stop(signum: int, _frame: object) -> None:
    # Later signals are ignored: the first one is already unwinding the command.
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)


def _fail(error: GitopsError, json_output: bool) -> int:
    print(f"error: {error}", file=sys.stderr)
    if json_output:
        output.print_json({"error": str(error), "exit_code": error.exit_code})
    return error.exit_code


def _wants_json(argv: list[str]) -> bool:
    return any(word == "--output=json" or (word == "--output" and after == "json")
               for word, after in zip(argv, [*argv[1:], None]))


def _attach_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--tag -x` as `--tag=-x`: a value starting with "-" that is no option of the command goes
    to the option before it, so it meets that option's own check (the tag format) instead of
    argparse's "expected one argument"."""
    command = _command_parser(parser, argv)
    if command is None:
        return argv
    options = command._option_string_actions
    words = list(argv)
    i = 1
    while i < len(words) - 1:
        action = options.get(words[i])
        value = words[i + 1]
        if (action is not None and action.nargs is None and value.startswith("-")
                and value.split("=", 1)[0] not in options and value != "--"):
            words[i:i + 2] = [f"{words[i]}={value}"]
        i += 1
    return words


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]
                    ) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and argv:
            return action.choices.get(argv[0])
    return None


def _mask(message: str, argv: list[str]) -> str:
    """`message` with every argument that may be a token replaced by ***."""
    secrets = set()
    for word, after in zip(argv, [*argv[1:], None]):
        if word.startswith("--token") and "=" in word:
            secrets.add(word.split("=", 1)[1])
        elif word.startswith("--token") and after is not None:
            secrets.add(after)
    environment_values = {v for v in os.environ.values() if len(v) >= _MIN_SECRET_LENGTH}
    secrets.update(word for word in argv if word in environment_values)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    return message
