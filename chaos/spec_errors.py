"""Pydantic validation errors → one plain-language problem per mistake, at the right field.

Pydantic's error locations mix keys of the data with labels of its own: the tag of a
discriminated union (``faults.0.latency.duration``, where ``latency`` is the fault type, not
the field) and the member of a plain union (``build.Build.context``, ``build.str``). Guessing
which part is which from the data alone breaks when a tag equals a field name (a latency fault
has a ``latency`` field), so the location is walked together with the model's annotations.
That walk also tells, for a value that fits no member of a union, which members there were,
so ``build: 5`` gets one message ("expected a mapping or text") instead of one per member.

Everything is derived from the models: new models and fault types need nothing here.
"""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass, field

from pydantic import BaseModel

from chaos.errors import Problem, did_you_mean, nearest
from chaos.yamlsource import Source

_MISSING = object()


# ---- the shape of an annotation -----------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What an annotation accepts, as far as error locations need to know."""

    kind: str  # model, list, dict, tagged, union, scalar
    model: type[BaseModel] | None = None
    item: object = None  # list item / dict value annotation
    tags: dict = field(default_factory=dict)  # tagged union: tag -> model
    discriminator: str | None = None
    members: tuple = ()  # plain union members (annotations)
    scalar: object = None  # the scalar annotation (str, int, Literal[...], ...)


def shape_of(annotation, discriminator: str | None = None) -> Shape:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        for meta in metadata:
            found = getattr(meta, "discriminator", None)
            if isinstance(found, str):
                discriminator = found
        return shape_of(base, discriminator)
    if origin in (typing.Union, types.UnionType):
        members = tuple(m for m in typing.get_args(annotation) if m is not type(None))
        if len(members) == 1:
            return shape_of(members[0], discriminator)
        if discriminator:
            return Shape("tagged", tags=_tags(members, discriminator), discriminator=discriminator, members=members)
        return Shape("union", members=members)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Shape("model", model=annotation)
    if origin is list or annotation is list:
        args = typing.get_args(annotation)
        return Shape("list", item=args[0] if args else typing.Any)
    if origin is dict or annotation is dict:
        args = typing.get_args(annotation)
        return Shape("dict", item=args[1] if args else typing.Any)
    return Shape("scalar", scalar=annotation)


def _tags(members, discriminator: str) -> dict:
    tags = {}
    for member in members:
        model = shape_of(member).model
        if model is not None and discriminator in model.model_fields:
            for tag in typing.get_args(model.model_fields[discriminator].annotation):
                tags[str(tag)] = model
    return tags


def field_by_name(model: type[BaseModel], name) -> tuple[str, object] | None:
    """The field a key (its alias, or its name) refers to: (attribute name, FieldInfo)."""
    for attribute, info in model.model_fields.items():
        if name == info.alias or name == attribute:
            return attribute, info
    return None


def field_annotation(model: type[BaseModel], info) -> object:
    """A field's annotation, with a forward reference ('Attach | None') resolved in the model's module."""
    annotation = info.annotation
    if isinstance(annotation, typing.ForwardRef):
        try:
            return eval(annotation.__forward_arg__, vars(sys.modules[model.__module__]))  # noqa: S307 - our own code
        except Exception:  # noqa: BLE001 - an unresolvable name stays a plain value
            return typing.Any
    return annotation


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a user writes for ``model`` (aliases where there are)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _member_kind(annotation) -> str:
    shape = shape_of(annotation)
    if shape.kind in ("model", "dict"):
        return "mapping"
    if shape.kind == "list":
        return "list"
    if shape.kind == "scalar":
        scalar = shape.scalar
        if typing.get_origin(scalar) is typing.Literal:
            return "text"
        return {str: "text", int: "int", float: "number", bool: "bool"}.get(scalar, "scalar")
    return "scalar"


def _label_kind(label: str) -> str:
    """The kind of a pydantic union member label: 'list[str]', 'dict[...]', 'Build', 'str', ..."""
    if label.startswith("list[") or label.startswith("tuple["):
        return "list"
    if label.startswith("dict[") or (label[:1].isupper() and "[" not in label):
        return "mapping"
    if label in ("str",) or label.startswith("literal["):
        return "text"
    return {"int": "int", "float": "number", "bool": "bool"}.get(label, "scalar")


def _value_kind(value) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "none" if value is None else "scalar"


_FITS = {
    "mapping": {"mapping"}, "list": {"list"}, "bool": {"bool"},
    "int": {"int", "number", "scalar"}, "number": {"number", "scalar"},
    "text": {"text", "scalar", "int", "number"},  # pydantic's lax mode reads "20" as 20
    "none": set(), "scalar": {"scalar"},
}
_KIND_WORDS = {"mapping": "a mapping", "list": "a list", "text": "text", "int": "a whole number",
               "number": "a number", "bool": "true or false", "scalar": "a value"}


# ---- walking an error location -----------------------------------------------------------


@dataclass
class Located:
    error: dict
    path: tuple  # keys of the data
    value: object  # the value at path (_MISSING if absent)
    shape: Shape  # what the model expects at path
    parent_model: type[BaseModel] | None  # the model whose field is at path (for unknown-field hints)
    choices: list  # (union key, label kind) for each plain union passed
    variants: Shape | None = None  # the tagged union the parent model was chosen from, if any


def locate(root: type[BaseModel], data, error: dict) -> Located:
    path: list = []
    node, shape, parent = data, Shape("model", model=root), None
    choices: list = []
    variants = None
    loc = list(error["loc"])
    i = 0
    while i < len(loc):
        part = loc[i]
        if shape.kind == "model":
            found = field_by_name(shape.model, part)
            parent = shape.model
            path.append(part)
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
            shape = shape_of(field_annotation(parent, found[1]), found[1].discriminator) if found else Shape("scalar")
        elif shape.kind == "list":
            path.append(part)
            node = node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else _MISSING
            shape = shape_of(shape.item)
        elif shape.kind == "dict":
            path.append(part)
            if i + 1 < len(loc) and loc[i + 1] == "[key]":
                return Located(error, tuple(path), part, Shape("scalar", scalar=str), parent, choices, variants)
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
            shape = shape_of(shape.item)
        elif shape.kind == "tagged":
            variants = shape
            model = shape.tags.get(str(part))
            shape = Shape("model", model=model) if model else Shape("scalar")
        elif shape.kind == "union":
            kind = _label_kind(str(part))
            choices.append(((tuple(path), len(choices)), kind, shape))
            member = next((m for m in shape.members if _member_kind(m) == kind
                           and (kind != "mapping" or shape_of(m).kind == "dict"
                                or getattr(shape_of(m).model, "__name__", None) == part)), None)
            member = member if member is not None else next(
                (m for m in shape.members if _member_kind(m) == kind), shape.members[0])
            shape = shape_of(member)
        else:  # a location deeper than the model knows: keep what is a key of the data
            if isinstance(node, dict) and part in node:
                path.append(part)
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                path.append(part)
                node = node[part]
        i += 1
    return Located(error, tuple(path), node, shape, parent, choices, variants if _is_variant(variants, parent) else None)


def _is_variant(variants: Shape | None, model) -> bool:
    return variants is not None and model in variants.tags.values()


# ---- errors → problems --------------------------------------------------------------------


def problems(root: type[BaseModel], source: Source, prefix: tuple, data, errors: list[dict]) -> list[Problem]:
    """One problem per mistake, in the order pydantic found them, duplicates dropped."""
    located = [locate(root, data, error) for error in errors]
    located = _drop_missing_when_misspelt(_pick_union_members(located, data))
    result: list[Problem] = []
    for item in located:
        problem = _problem(source, prefix, item) if isinstance(item, Located) else \
            source.problem(prefix + item[0], item[1])
        if problem not in result:
            result.append(problem)
    return sorted(result, key=lambda p: (p.line, p.column))


def _drop_missing_when_misspelt(located: list) -> list:
    """'latncy: 300ms' is one mistake: the unknown field says "did you mean 'latency'", and the
    missing 'latency' is not reported besides."""
    meant = set()
    for item in located:
        if isinstance(item, Located) and item.error["type"] == "extra_forbidden" and item.parent_model:
            close = nearest(str(item.path[-1]), field_names(item.parent_model), cutoff=0.7)
            if close:
                meant.add(item.path[:-1] + (close,))
    return [item for item in located if not (isinstance(item, Located) and item.error["type"] == "missing"
                                             and item.path in meant)]


def _pick_union_members(located: list[Located], data) -> list:
    """Keep the errors of the union member that fits the value; if none fits, one message for the union."""
    by_union: dict = {}
    for item in located:
        for key, kind, shape in item.choices:
            by_union.setdefault(key, (shape, []))[1].append((item, kind))
    dropped: set[int] = set()
    unfit: list[tuple[set[int], tuple]] = []
    for (path, _), (shape, members) in by_union.items():
        value = _value_at(data, path)
        fitting = [kind for _, kind in members if kind in _FITS.get(_value_kind(value), set())]
        if fitting:
            # Several fitting members (text may be read as a number too): the one of the value's own kind speaks.
            best = _best_kind(fitting, _value_kind(value))
            dropped |= {id(item) for item, kind in members if kind != best}
        else:
            unfit.append(({id(item) for item, _ in members}, (path, _expected(shape, value))))
    result, said = [], set()
    for item in located:
        if id(item) in dropped:
            continue
        group = next((n for n, (ids, _) in enumerate(unfit) if id(item) in ids), None)
        if group is None:
            result.append(item)
        elif group not in said:
            said.add(group)
            result.append(unfit[group][1])
    return result


def _expected(shape: Shape, value) -> str:
    words = []
    for member in shape.members:
        word = _KIND_WORDS[_member_kind(member)]
        if word not in words:
            words.append(word)
    if "a number" in words and "a whole number" in words:
        words.remove("a whole number")
    return f"expected {_or(words)}, got {describe(value)}"


def _best_kind(kinds: list[str], value_kind: str) -> str:
    return value_kind if value_kind in kinds else kinds[0]


def _value_at(data, path: tuple):
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def describe(value) -> str:
    """A value as a reader would name it in a message."""
    if value is _MISSING:
        return "nothing"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (YAML reads yes/no/on/off as true/false: quote it to mean text)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        text = repr(value)
        return f"the number {text if len(text) <= 24 else text[:20] + '…'}"
    text = repr(value)
    return f"text {text if len(text) <= 60 else text[:56] + '…' + text[0]}"


def _problem(source: Source, prefix: tuple, item: Located) -> Problem:
    error, path = item.error, prefix + item.path
    kind = error["type"]
    value = item.value if item.value is not _MISSING else error.get("input", _MISSING)
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return source.problem(path, _unknown_field(item, str(path[-1])))
    if kind == "missing":
        return source.problem(path, "is required")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_problem(source, path, item, ctx)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if not item.path and item.shape.kind == "model":
            model = item.shape.model
            required = [info.alias or name for name, info in model.model_fields.items() if info.is_required()]
            fields = ", ".join(f"{name}:" for name in (required or field_names(model))[:4])
            return source.problem(path, f"expected a mapping of sections ({fields} ...), got {describe(value)}")
        return source.problem(path, f"expected a mapping (key: value), got {describe(value)}")
    if kind == "list_type":
        more = f" (for one item write [{value}])" if isinstance(value, (str, int, float)) and not isinstance(
            value, bool) and len(str(value)) < 60 else ""
        return source.problem(path, f"expected a list, got {describe(value)}{more}")
    if kind == "literal_error":
        options = _literal_options(item.shape)
        shown = ", ".join(options) if options else ctx.get("expected", "")
        if not isinstance(value, str):
            return source.problem(path, f"expected one of: {shown}, got {describe(value)}")
        return source.problem(path, f"{_named(value)} is not one of: {shown}{_hint(value, options)}")
    if kind in _TYPE_WORDS:
        return source.problem(path, f"expected {_TYPE_WORDS[kind]}, got {describe(value)}")
    if kind in ("int_parsing_size",):
        return source.problem(path, f"{describe(value)} is too large")
    if kind == "finite_number":
        return source.problem(path, "must be a finite number (not .inf or .nan)")
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return source.problem(path, f"must be {words} {ctx.get(key)}, got {_plain(value)}")
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return source.problem(path, _length_message(kind, ctx))
    message = error["msg"]
    for prefix_text in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix_text)
    message = message.replace("Input should be", "must be")
    return source.problem(path, message)


_TYPE_WORDS = {
    "string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "string_unicode": "text",
}


def _tag_problem(source: Source, path: tuple, item: Located, ctx: dict) -> Problem:
    shape = item.shape
    tags = list(shape.tags) if shape.kind == "tagged" else []
    what = _noun(path)
    key = shape.discriminator or "type"
    if item.error["type"] == "union_tag_not_found":
        return source.problem(path, f"needs a '{key}' (one of: {', '.join(tags)})")
    tag = _value_at_field(item.value, key, ctx.get("tag"))
    if not isinstance(tag, (str, int, float)) or isinstance(tag, bool):
        return source.problem(path + (key,), f"expected a {what}type (one of: {', '.join(tags)}), "
                                             f"got {describe(tag)}")
    hint = _hint(str(tag), tags)
    more = hint if hint else f" (expected one of: {', '.join(tags)})"
    return source.problem(path + (key,), f"unknown {what}type {_named(tag)}{more}")


def _value_at_field(value, key: str, fallback):
    return value.get(key, fallback) if isinstance(value, dict) else fallback


# Fields people reach for that do not exist, and what to do instead.
FIELD_HINTS = {
    ("Phases", "fault"): "the fault phase lasts from the start of the first fault to the end of the last one: "
                         "set the faults' at and duration",
}


def _unknown_field(item: Located, key: str) -> str:
    model = item.parent_model
    if model is not None and (model.__name__, key) in FIELD_HINTS:
        return f"unknown field: {FIELD_HINTS[(model.__name__, key)]}"
    names = field_names(model) if model else []
    close = nearest(key, names, cutoff=0.7)
    if close:
        return f"unknown field (did you mean '{close}'?)"
    if item.variants is not None:  # a field of another fault type, say: name the types that have it
        owners = [tag for tag, other in item.variants.tags.items() if key in field_names(other)]
        tag = next((t for t, m in item.variants.tags.items() if m is model), None)
        if owners and tag:
            shown = ", ".join(owners[:4]) + (", ..." if len(owners) > 4 else "")
            return f"unknown field for a {tag} {_noun(item.path[:-1]).strip()} (a field of: {shown})"
    return f"unknown field (expected one of: {', '.join(names)})" if names else "unknown field"


def _noun(path: tuple) -> str:
    """'faults[0]' → 'fault ': the list's name in the singular, to say 'unknown fault type'."""
    names = [p for p in path if isinstance(p, str)]
    if not names:
        return ""
    name = names[-1]
    return (name[:-1] if name.endswith("s") else name) + " "


def _literal_options(shape: Shape) -> list[str]:
    scalar = shape.scalar
    if typing.get_origin(scalar) is typing.Literal:
        return [str(option) for option in typing.get_args(scalar)]
    return []


def _hint(word: str, options: list[str]) -> str:
    """Did-you-mean for a value: a near spelling, or the option it is the last part of ('p99')."""
    part_of = next((option for option in options if option.endswith("." + word)), None)
    return did_you_mean(word, options, f" (did you mean '{part_of}'?)" if part_of else "")


def _named(value) -> str:
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "…" + text[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _plain(value)
    return describe(value)


def _plain(value) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 24 else text[:20] + "…"


def _length_message(kind: str, ctx: dict) -> str:
    unit = "characters" if kind.startswith("string") else "items"
    if kind.endswith("short"):
        return f"needs at least {ctx.get('min_length')} {unit}"
    return f"has more than {ctx.get('max_length')} {unit}"
