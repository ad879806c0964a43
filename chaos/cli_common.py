"""What the `chaos` commands and the `chaos gameday` commands share: the consoles, the verdict styles,
the ``--var``/``--var-file`` options and how a ChaosError ends a command. Its own module so that
neither command module imports the other for them."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from chaos.errors import ChaosError, SpecError

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

VERDICT_STYLE = {"held": "bold green", "deviated": "bold red", "inconclusive": "bold yellow",
                 "aborted": "bold magenta", "error": "bold red", "interrupted": "bold magenta"}

var_option = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="set a ${NAME} variable")
var_file_option = click.option("--var-file", "var_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                               help="file of NAME=VALUE lines")


def variables_given(pairs: tuple[str, ...], files: tuple[str, ...]) -> dict[str, str]:
    """The ${NAME} variables of ``--var-file`` files, then ``--var`` pairs (a pair wins over a file)."""
    variables: dict[str, str] = {}
    for file in files:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"--var-file {file}: cannot read it as UTF-8 text ({exc})") from None
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise click.UsageError(f"{file}:{number}: expected NAME=value")
            key, value = line.split("=", 1)
            variables[key.strip()] = value.strip()
    for pair in pairs:
        if "=" not in pair:
            raise click.UsageError(f"--var {pair!r}: expected NAME=value")
        key, value = pair.split("=", 1)
        variables[key] = value
    return variables


def fail(exc: ChaosError) -> None:
    """Print the problem (each of a spec's on its own FILE:LINE line) and exit with its code."""
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            err.print(str(problem), markup=False)
    else:
        err.print(f"chaos: {exc}", markup=False)
    sys.exit(exc.exit_code)


def tolerances(values: tuple[str, ...]):
    """``--tolerance`` values -> (default, per metric), or a usage error naming the option."""
    from chaos.compare import parse_tolerances

    try:
        return parse_tolerances(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tolerance") from None


def warn(warnings: list[str]) -> None:
    """What Compose warned of, and compose keys the harness does not apply: on stderr, one line each."""
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False)
