"""What every command-line script of vito_hf shares: an argument error ends the script before it writes
anything, as one line on stderr (`prog: error: ... (see --help)`) and exit code 2, argparse's convention for
usage errors; never a traceback or a page of usage.

Flags are spelled with underscores (`--output_dir`), as `transformers.HfArgumentParser` spells dataclass
fields. HfArgumentParser also accepts the hyphenated spelling (`--output-dir`); `ArgumentParser` here adds the
same alias to every underscored flag, so both spellings work in every script.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import transformers

T = TypeVar("T")


class _OneLineErrors:
    """`error()` prints one line and exits 2 (argparse's default prints the whole usage first)."""

    prog: str

    def error(self, message: str) -> NoReturn:
        text = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {text} (see --help)\n")  # type: ignore[attr-defined]


class ArgumentParser(_OneLineErrors, argparse.ArgumentParser):
    """`argparse.ArgumentParser` with one-line errors and a hyphenated alias for every underscored flag.
    Subcommand parsers (`add_subparsers().add_parser`) are of this class too."""

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        aliases = [name.replace("_", "-") for name in names if name.startswith("--") and "_" in name]
        return super().add_argument(*names, *aliases, **kwargs)


class HfArgumentParser(_OneLineErrors, transformers.HfArgumentParser):
    """`transformers.HfArgumentParser` with one-line errors, also for the `ValueError`s that the dataclasses'
    own validation (`TrainingArguments.__post_init__`) raises while parsing."""

    def parse_dataclasses(self, args: Sequence[str] | None = None, required: Iterable[str] = ()) -> tuple:
        """The dataclasses, with the flags named in `required` (field names) made mandatory."""
        wanted = set(required)
        for action in self._actions:
            if action.dest in wanted:
                action.required = True
        try:
            return self.parse_args_into_dataclasses(args)
        except ValueError as error:
            self.error(str(error))


def checked(check: Callable[[str], T], what: str) -> Callable[[str], T]:
    """An argparse `type` that converts with `check` and turns its `ValueError` into a usage error."""

    def convert(text: str) -> T:
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}{f' ({error})' if str(error) else ''}") from None

    return convert


def _number(kind: type, minimum: float, inclusive: bool) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError("") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise ValueError("")
        return value

    return convert


positive_int = checked(_number(int, 0, inclusive=False), "a positive integer")
non_negative_int = checked(_number(int, 0, inclusive=True), "an integer >= 0")
positive_float = checked(_number(float, 0.0, inclusive=False), "a positive number")
non_negative_float = checked(_number(float, 0.0, inclusive=True), "a number >= 0")


def _existing(kind: str) -> Callable[[str], Path]:
    def convert(text: str) -> Path:
        path = Path(text)
        if not path.exists():
            raise ValueError("no such path")
        if kind == "file" and not path.is_file():
            raise ValueError("not a file")
        if kind == "folder" and not path.is_dir():
            raise ValueError("not a folder")
        if not os.access(path, os.R_OK):
            raise ValueError("not readable")
        return path

    return convert


existing_path = checked(_existing("path"), "an existing file or folder")
existing_file = checked(_existing("file"), "an existing file")
existing_folder = checked(_existing("folder"), "an existing folder")
