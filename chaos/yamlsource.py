"""YAML loading that keeps the source position of every node, and ``${VAR}`` substitution.

Validation errors must name FILE:LINE:COLUMN, so the document is composed into nodes first
and turned into plain data alongside a map from field path to position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from chaos.errors import Problem, SpecError

Path_ = tuple  # a field path such as ("faults", 0, "latency")

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass
class Source:
    """Plain data loaded from one YAML file, with positions (1-based) per field path."""

    file: str
    data: object
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    used_variables: dict[str, str] = field(default_factory=dict)

    def position(self, path: Path_) -> tuple[int, int]:
        """The position of the deepest known node on ``path`` (a missing field points at its parent)."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found:
                return found
        return (1, 1)

    def problem(self, path: Path_, message: str) -> Problem:
        line, column = self.position(path)
        return Problem(self.file, line, column, dotted(path), message)


def dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_yaml(file: Path | str, variables: dict[str, str]) -> Source:
    """Read ``file`` into a :class:`Source`; YAML syntax errors and unknown variables are problems."""
    name = str(file)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"cannot read file ({exc.strerror})")]) from None
    return load_yaml_text(text, name, variables)


def load_yaml_text(text: str, name: str, variables: dict[str, str]) -> Source:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(name, line, column, "", f"invalid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"invalid YAML: {exc}")]) from None
    source = Source(name, None)
    problems: list[Problem] = []
    try:
        source.data = _to_data(node, (), source, variables, problems) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(name, line, column, "", f"invalid YAML: {exc.problem}")]) from None
    except RecursionError:
        raise SpecError([Problem(name, 1, 1, "", "invalid YAML: a recursive alias or nesting too deep")]) from None
    if problems:
        raise SpecError(problems)
    return source


def _to_data(node, path, source: Source, variables, problems):
    source.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, (str, int)):
                problems.append(source.problem(path, f"mapping key {key!r} must be a string"))
                continue
            if key in result:
                line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                problems.append(Problem(source.file, line, column, dotted(path + (key,)), "duplicate key"))
                continue
            result[key] = _to_data(value_node, path + (key,), source, variables, problems)
            # A field is pointed at by its key, where a reader looks for it.
            source.positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, path + (i,), source, variables, problems) for i, item in enumerate(node.value)]
    value = _scalar(node)
    if isinstance(value, str) and "$" in value:
        try:
            return substitute(value, variables, source.used_variables)
        except KeyError as exc:
            problems.append(source.problem(path, f"variable {exc.args[0]} is not set (set it or write ${{{exc.args[0]}:-default}})"))
    return value


def _scalar(node):
    if not isinstance(node, yaml.ScalarNode):
        return None
    return yaml.SafeLoader("").construct_object(node)


def substitute(text: str, variables: dict[str, str], used: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; ``$$`` is a literal ``$``. Unknown → KeyError."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in variables:
            value = variables[name]
        elif default is not None:
            value = default
        else:
            raise KeyError(name)
        if used is not None:
            used[name] = value
        return value

    return _VARIABLE.sub(replace, text)
