"""Errors the CLI turns into exit codes (see docs/architecture.md, "Exit codes")."""

from __future__ import annotations

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


class SpecError(ChaosError):
    """Invalid input: every problem found in one pass. Exit code 2, nothing started."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class EnvironmentProblem(ChaosError):
    """The engine, an image or a tool is missing or misbehaves. Exit code 4."""

    exit_code = 4
