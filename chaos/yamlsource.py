"""YAML loading that keeps the source position of every node, and ``${VAR}`` substitution.

Validation errors must name FILE:LINE:COLUMN, so the document is composed into nodes first
and turned into plain data alongside a map from field path to position.

Whatever the bytes, loading ends in data or in a :class:`SpecError` with positioned problems:
non-UTF-8 bytes, control characters, nesting deeper than any experiment needs, aliases that
expand without bound or refer to themselves, and keys that are not text are all problems at
their line, never a traceback.
"""

from __future__ import annotations

import codecs
import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from chaos.errors import Problem, SpecError

Path_ = tuple  # a field path such as ("faults", 0, "latency")

MAX_BYTES = 1_000_000  # an experiment or compose file is a few KB
MAX_DEPTH = 40  # the deepest experiment field is about 8 levels down
MAX_VALUES = 100_000  # after aliases are expanded

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.\-/@:+]+$")
_MERGE_TAG = "tag:yaml.org,2002:merge"


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
        return Problem(self.file, line, column, dotted(path), one_line(message))


def one_line(text: str) -> str:
    """Problems are one line each: a message never carries a line break."""
    return " ".join(str(text).split()) if ("\n" in str(text) or "\r" in str(text)) else str(text)


def dotted(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):
            text += f".{part}" if text else str(part)
        else:  # a key with spaces, quotes or control characters: shown quoted, on one line
            text += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return text


# ---- reading -----------------------------------------------------------------------------


def load_yaml(file: Path | str, variables: dict[str, str]) -> Source:
    """Read ``file`` into a :class:`Source`; unreadable files, YAML errors and unknown variables are problems."""
    name = str(file)
    try:
        with open(file, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"cannot read file ({exc.strerror or exc})")]) from None
    if len(raw) > MAX_BYTES:
        raise SpecError([Problem(name, 1, 1, "", f"file is larger than {MAX_BYTES // 1_000_000} MB: "
                                                 "is this the experiment file?")])
    return load_yaml_text(decode(raw, name), name, variables)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a byte-order mark is allowed); anything else is a problem at the first bad byte."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise SpecError([Problem(name, 1, 1, "", "the file is UTF-16 or UTF-32 text: save it as UTF-8")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
        message = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be read (is this a binary file?)"
        raise SpecError([Problem(name, line, column, "", message)]) from None


def load_yaml_text(text: str, name: str, variables: dict[str, str]) -> Source:
    try:
        node = yaml.compose(text, Loader=_NestingLimitedLoader)
    except _TooDeep as exc:
        line, column = _mark(exc.mark)
        raise SpecError([Problem(name, line, column, "", f"nested more than {MAX_DEPTH} levels deep "
                                                         "(no experiment field is)")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_problem(exc, name, text)]) from None
    except RecursionError:  # the nesting limit makes this unreachable; kept as the last guard
        raise SpecError([Problem(name, 1, 1, "", "invalid YAML: nested too deep")]) from None
    if node is None:
        raise SpecError([Problem(name, 1, 1, "", "the file is empty (no YAML in it, only comments or blanks)")])
    source = Source(name, None)
    problems: list[Problem] = []
    converter = _Converter(source, variables, problems)
    try:
        source.data = converter.data(node, ())
    except _TooLarge as exc:
        line, column = _mark(exc.node.start_mark)
        problems = [Problem(name, line, column, "", f"more than {MAX_VALUES} values once aliases are expanded")]
    if problems:
        raise SpecError(problems)
    return source


class _TooDeep(Exception):
    def __init__(self, mark):
        self.mark = mark


class _NestingLimitedLoader(yaml.SafeLoader):
    """The composer recurses once per level: stop at MAX_DEPTH, long before Python's recursion limit."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _mark(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


_QUOTE = "put the value in quotes if the character is meant as text"
# (how the YAML library words a problem, what to tell a person instead); {line}: where the block began
_YAML_HINTS = (
    ("found character '\\t' that cannot start any token", "a tab character: YAML indents with spaces only"),
    ("found a tab character", "a tab character: YAML indents with spaces only"),
    ("mapping values are not allowed here",
     "a ':' where no key can start (quote a value that contains ': ', or check the indentation)"),
    ("expected a single document in the stream", "more than one document ('---'): an experiment is one document"),
    ("expected <block end>", "this line's indentation does not fit the block it is in{line}"),
    ("expected '<document start>'", "this line does not continue the document above it (check its indentation)"),
    ("could not find expected ':'", "a line without ':' where 'key: value' belongs"),
    ("sequence entries are not allowed here", "a '- ' list item where a 'key: value' belongs (check the indentation)"),
    ("expected alphabetic or numeric character", "'&' starts an anchor and '*' an alias, both need a name: " + _QUOTE),
    ("expected URI", "'!' starts a YAML tag: " + _QUOTE),
    ("expected chomping or indentation indicators", "'|' and '>' start a block of text: " + _QUOTE),
)
_TOKENS = {"'<stream end>'": "the end of the file", "'<block mapping start>'": "a 'key: value' line",
           "'<block sequence start>'": "a '- ' list item", "'<scalar>'": "a value", "'<document start>'": "'---'"}
_OPENERS = {"while parsing a flow sequence": "the '[' on line {} is not closed",
            "while parsing a flow mapping": "the '{{' on line {} is not closed",
            "while scanning a quoted scalar": "the quote on line {} is not closed",
            "while scanning a double-quoted scalar": "the quote on line {} is not closed"}


def _opened_at(exc: yaml.MarkedYAMLError) -> str:
    """Where the construct that went wrong began, when that is not where it was noticed."""
    if not exc.context or exc.context_mark is None or exc.problem_mark is None:
        return ""
    if exc.context_mark.line == exc.problem_mark.line:
        return ""
    template = _OPENERS.get(exc.context)
    if template is None:
        return f" (the block starts on line {exc.context_mark.line + 1})"
    return f" ({template.format(exc.context_mark.line + 1)})"


def _yaml_problem(exc: yaml.YAMLError, name: str, text: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Problem(name, line, column, "", f"invalid YAML: control character U+{ord(character):04X} "
                                               "is not allowed in YAML text (is this a binary file?)")
    if isinstance(exc, yaml.MarkedYAMLError):
        line, column = _mark(exc.problem_mark or exc.context_mark)
        problem = exc.problem or exc.context or "unreadable"
        if problem.startswith("could not find expected ':'") and exc.context_mark is not None:
            line, column = _mark(exc.context_mark)  # the line that lacks its ':', not the one after it
        for start, better in _YAML_HINTS:
            if problem.startswith(start) or (exc.context or "").startswith(start):
                return Problem(name, line, column, "", f"invalid YAML: {better.format(line=_opened_at(exc))}")
        if "that cannot start any token" in problem:
            problem = problem.replace("found character", "the character").replace(
                "that cannot start any token", f"cannot start a value ({_QUOTE})")
        for token, words in _TOKENS.items():
            problem = problem.replace(token, words)
        return Problem(name, line, column, "", one_line(f"invalid YAML: {problem}{_opened_at(exc)}"))
    return Problem(name, 1, 1, "", one_line(f"invalid YAML: {exc}"))


# ---- nodes → data --------------------------------------------------------------------------


class _TooLarge(Exception):
    def __init__(self, node):
        self.node = node


class _Converter:
    """Composed nodes → plain data, recording positions; problems collected, not raised."""

    def __init__(self, source: Source, variables: dict[str, str], problems: list[Problem]):
        self.source, self.variables, self.problems = source, variables, problems
        self.count = 0
        self.stack: set[int] = set()
        self.constructor = yaml.SafeLoader("")

    def data(self, node, path: Path_):
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooLarge(node)
        self.source.positions[path] = _mark(node.start_mark)
        if id(node) in self.stack:
            self.problems.append(self.source.problem(path, "an alias refers to a value that contains it "
                                                           "(a structure without end)"))
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self.stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.data(item, path + (i,)) for i, item in enumerate(node.value)]
            return self.mapping(node, path)
        finally:
            self.stack.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        result: dict = {}
        merged: list = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged += self.merge_sources(value_node, path)
                continue
            key = self.key(key_node, path)
            if key is None:
                continue
            if key in result:
                line, column = _mark(key_node.start_mark)
                self.problems.append(Problem(self.source.file, line, column, dotted(path + (key,)), "duplicate key"))
                continue
            result[key] = self.data(value_node, path + (key,))
            # A field is pointed at by its key, where a reader looks for it.
            self.source.positions[path + (key,)] = _mark(key_node.start_mark)
        for source_node in merged:  # '<<: *base': explicit keys win, then earlier merged mappings
            for key_node, value_node in source_node.value:
                key = self.key(key_node, path)
                if key is not None and key not in result:
                    result[key] = self.data(value_node, path + (key,))
                    self.source.positions[path + (key,)] = _mark(key_node.start_mark)
        return result

    def merge_sources(self, value_node, path: Path_) -> list:
        nodes = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        if all(isinstance(n, yaml.MappingNode) for n in nodes):
            return nodes
        line, column = _mark(value_node.start_mark)
        self.problems.append(Problem(self.source.file, line, column, dotted(path),
                                     "'<<' merges a mapping or a list of mappings"))
        return []

    def key(self, key_node, path: Path_) -> str | None:
        """Keys are text: a plain ``8080:`` or ``yes:`` key means its own text, not a number or a boolean."""
        if isinstance(key_node, yaml.ScalarNode):
            return key_node.value
        line, column = _mark(key_node.start_mark)
        kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
        self.problems.append(Problem(self.source.file, line, column, dotted(path), f"a key must be text, not {kind}"))
        return None

    def scalar(self, node: yaml.ScalarNode, path: Path_):
        try:
            value = self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # e.g. a timestamp such as 2024-13-45 that YAML recognises by shape but cannot build
            reason = getattr(exc, "problem", None) or exc
            self.problems.append(self.source.problem(path, one_line(f"invalid YAML value {node.value!r}: {reason}")))
            return node.value
        if isinstance(value, (datetime.date, bytes)):
            value = node.value  # no field is a date or binary: keep the text as written
        if isinstance(value, str) and "$" in value:
            try:
                return substitute(value, self.variables, self.source.used_variables)
            except VariableError as exc:
                self.problems.append(self.source.problem(path, str(exc)))
        return value


# ---- ${VAR} --------------------------------------------------------------------------------


class VariableError(ValueError):
    """A ``${...}`` that cannot be substituted: unknown, malformed, or required with a message."""


def substitute(text: str, variables: dict[str, str], used: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset),
    ``${VAR:?message}`` / ``${VAR?message}`` (required); ``$$`` is a literal ``$``, as in compose."""
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        following = text[j + 1: j + 2]
        if following != "{":
            out.append("$")
            i = j + (2 if following == "$" else 1)
            continue
        end = text.find("}", j)
        if end < 0:
            raise VariableError(f"'${{' is not closed with '}}' in {_short(text)} (write $$ for a literal $)")
        out.append(_resolve(text[j + 2: end], variables, used))
        i = end + 1


def _resolve(inner: str, variables: dict[str, str], used: dict[str, str] | None) -> str:
    name_match = _NAME.match(inner)
    if not name_match:
        raise VariableError(f"'${{{inner}}}' is not a variable (expected ${{NAME}} or ${{NAME:-default}}, "
                            "NAME of letters, digits and _)")
    name, rest = name_match.group(0), inner[name_match.end():]
    operator = next((op for op in (":-", "-", ":?", "?") if rest.startswith(op)), None)
    if rest and operator is None:
        raise VariableError(f"'${{{inner}}}' is not a variable (expected ${{NAME}}, ${{NAME:-default}} "
                            "or ${NAME:?message})")
    argument = rest[len(operator):] if operator else ""
    if "${" in argument:
        raise VariableError(f"'${{{inner}}}': a default cannot contain another variable")
    value = variables.get(name)
    if value is None or (value == "" and operator in (":-", ":?")):
        if operator in (":-", "-"):
            value = argument
        elif operator in (":?", "?"):
            raise VariableError(f"variable {name} is not set: {argument}" if argument else
                                f"variable {name} is not set")
        else:
            raise VariableError(f"variable {name} is not set (set it or write ${{{name}:-default}})")
    if used is not None:
        used[name] = value
    return value


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 50 else shown[:46] + "…" + shown[0]
