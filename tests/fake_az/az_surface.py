"""The `az` commands amlgen calls and the options each accepts (az_surface.json), as a parser.

The stand-in `az` parses its arguments with it, so an option the real az lacks fails as az
fails (`ERROR: unrecognized arguments: ...`, exit 2) and a command it lacks as az says (`'ml x'
is misspelled or not recognized by the system.`, exit 2); tests/test_az_surface.py checks every
argv the dry runs print against it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TABLE: dict[str, Any] = json.loads(Path(__file__).with_name("az_surface.json").read_text())
USAGE_EXIT = 2  # az's exit code for a usage error


class Refused(Exception):
    """What az prints (after `ERROR: `) and exits with for a command line it does not take."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # az words it as `ERROR: ...`, exit 2
        raise Refused(message)


def command_of(argv: list[str]) -> tuple[str, list[str]]:
    """The command (`ml job create`, `resource show`) and the arguments after it."""
    words: list[str] = []
    for token in argv:
        if token.startswith("-"):
            break
        words.append(token)
    for n in (3, 2):
        name = " ".join(words[:n])
        if len(words) >= n and name in TABLE["commands"]:
            return name, argv[n:]
    shown = " ".join(words[:3]) or " ".join(argv[:1])
    raise Refused(f"'{shown}' is misspelled or not recognized by the system.")


def options(command: str) -> dict[str, str]:
    """Every option the command takes (`--long|-s` -> value, flag, list or optional)."""
    spec = TABLE["commands"][command]
    common = TABLE["common"] if spec["common"] else {}
    return {**TABLE["global"], **common, **spec["options"]}


def parser(command: str) -> argparse.ArgumentParser:
    p = _Parser(prog=f"az {command}", add_help=False, allow_abbrev=False)
    for names, kind in options(command).items():
        flags = names.split("|")
        dest = flags[0].lstrip("-").replace("-", "_")
        if kind == "flag":
            p.add_argument(*flags, dest=dest, action="store_true")
        elif kind == "list":
            p.add_argument(*flags, dest=dest, nargs="+", action="extend", default=[])
        elif kind == "optional":
            p.add_argument(*flags, dest=dest, nargs="?", const="true")
        else:
            p.add_argument(*flags, dest=dest)
    return p


def parse(argv: list[str]) -> tuple[str, argparse.Namespace]:
    """(command, its options) for an az argument list, or Refused as az refuses it."""
    command, rest = command_of(argv)
    args, unknown = parser(command).parse_known_args(rest)
    if unknown:
        raise Refused(f"unrecognized arguments: {' '.join(unknown)}")
    return command, args
