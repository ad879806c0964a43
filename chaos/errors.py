"""Errors the CLI turns into exit codes (see docs/architecture.md, "Exit codes")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class ChaosError(Exception):
    exit_code = 4


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file, printed as ``FILE:LINE:COLUMN: field.path: message``."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def nearest(word: str, options: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The option ``word`` was meant to be: a near spelling, else the same word with other case or ``-`` for ``_``."""
    options = list(options)
    found = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    if found:
        return found[0]
    folded = word.lower().replace("-", "_")
    return next((option for option in options if option.lower() == folded), None)


def did_you_mean(word: str, options: Iterable[str], otherwise: str = "") -> str:
    """`` (did you mean 'users'?)`` to end a message with, or ``otherwise`` (say, the list of names) when no
    option is near."""
    close = nearest(word, options)
    return f" (did you mean '{close}'?)" if close else otherwise


class SpecError(ChaosError):
    """Invalid input: every problem found in one pass. Exit code 2, nothing started."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class EnvironmentProblem(ChaosError):
    """The engine, an image or a tool is missing or misbehaves. Exit code 4."""

    exit_code = 4
