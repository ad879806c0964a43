"""The generated parts of docs/experiment-reference.md, from the models, so page and code cannot drift.

The page is written by hand around marked regions::

    <!-- generated: fields Load -->
    ...replaced by a table of Load's fields...
    <!-- end generated -->

Kinds of region: ``example`` (the complete example that fragments elsewhere extend),
``units``, ``metrics``, ``fields MODEL`` (one model's keys), and ``variants FIELD`` (every
kind of a tagged list such as ``faults`` or ``probes``: shared fields once, then each type
with its own keys and an example). ``python -m chaos.reference --write`` updates the page;
tests/unit/test_reference_docs.py fails when it is out of date, when a model is not in it, or
when a YAML example in the docs does not validate.
"""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from chaos import metrics, schema, spec, units
from chaos.spec_errors import field_annotation, shape_of

PAGE = Path(__file__).resolve().parent.parent / "docs" / "experiment-reference.md"
REGION = re.compile(r"(<!-- generated: (?P<kind>[a-z]+)(?: (?P<arg>[A-Za-z_.]+))? -->\n)(?P<body>.*?)"
                    r"(<!-- end generated -->)", re.S)

# The complete example: shown first on the page; every YAML fragment in the docs extends it.
# Written as if it lived in experiments/ (docs/ is its sibling: the same relative paths work).
EXAMPLE = """\
name: shop-example
description: 300 ms latency on api -> redis; the shop must stay fast and correct.
targets:
  compose: ../targets/shop/compose.yaml     # services, images, ports, healthchecks
links:                                      # paths through Toxiproxy (from -> to:port)
  - api -> redis:6379
  - api -> inventory:8081
load:
  locustfile: ../targets/shop/locustfile.py
  user_classes: [ShopUser]
  target: api:8080                          # driven through the edge link load -> api:8080
  users: 20
phases: {warmup: 5s, baseline: 20s, recovery: 15s}
faults:
  - name: slow redis
    type: latency
    link: api -> redis:6379
    latency: 300ms
    at: 0s
    duration: 20s
steady_state:
  - name: shop answers fast
    metric: latency.p99
    max: 500ms
    phases: [baseline, fault, recovery]
  - name: shop answers correctly
    metric: error_rate
    max: 1%
abort:
  - {metric: error_rate, max: 50%, for: 5s}
report:
  dir: ../reports
"""

# A broken file for the Errors section, shown with what `chaos validate` really prints for it.
BROKEN = """\
name: shop-broken
targets:
  compose: ../targets/shop/compose.yaml
links:
  - api -> redsi:6379
load:
  locustfile: ../targets/shop/locustfile.py
  target: api:8080
  userz: 20
faults:
  - type: latency
    link: api -> redis:6379
    latncy: 300ms
    duration: -5s
steady_state:
  - name: fast
    metric: latency.p98
    max: 500ms
"""

# One example per kind of a tagged list; a kind without one gets a generated example (which a
# test validates: a wrong guess fails there, and an entry here fixes it).
EXAMPLES = {
    "latency": "- type: latency\n  link: api -> redis:6379\n  latency: 300ms\n  jitter: 20ms\n  at: 5s\n  duration: 20s\n",
    "bandwidth": "- type: bandwidth\n  link: api -> inventory:8081\n  rate: 64KB/s\n  duration: 20s\n",
    "slow_close": "- type: slow_close\n  link: api -> redis:6379\n  delay: 2s\n  duration: 20s\n",
    "timeout": "- type: timeout\n  link: api -> redis:6379\n  timeout: 0s           # hold connections, pass no data\n"
               "  toxicity: 50%\n  duration: 10s\n",
    "reset_peer": "- type: reset_peer\n  link: api -> inventory:8081\n  timeout: 500ms\n  duration: 10s\n",
    "slicer": "- type: slicer\n  link: api -> redis:6379\n  average_size: 64\n  size_variation: 32\n  delay: 1ms\n"
              "  duration: 20s\n",
    "limit_data": "- type: limit_data\n  link: api -> inventory:8081\n  bytes: 1KB\n  duration: 10s\n",
    "down": "- type: down\n  link: api -> redis:6379\n  at: 5s\n  duration: 10s\n",
    "kill": "- type: kill\n  service: inventory\n  signal: SIGKILL\n  duration: 10s          # started again after 10s\n",
    "stop": "- type: stop\n  service: inventory\n  grace: 2s\n  duration: 10s\n",
    "restart": "- type: restart\n  service: inventory\n  duration: 15s\n",
    "pause": "- type: pause\n  service: redis\n  duration: 5s\n",
    "crash_loop": "- type: crash_loop\n  service: inventory\n  every: 5s\n  down: 2s\n  duration: 20s\n",
    "cpu": "- type: cpu\n  service: api\n  cpus: 0.2\n  duration: 20s\n",
    "memory": "- type: memory\n  service: api\n  memory: 64MB\n  duration: 20s\n",
    "partition": "- type: partition\n  groups: [[api], [redis]]\n  duration: 10s\n",
    "clock_skew": "- type: clock_skew\n  service: api\n  offset: +30s\n  duration: 20s\n",
    "faults:http": "- type: http\n  link: api -> inventory:8081\n  match: {method: GET, path: /stock/*}\n"
                   "  status: 503\n  headers: {Retry-After: '1'}\n  probability: 20%\n  duration: 20s\n",
    "dns": "- type: dns\n  service: api\n  name: inventory\n  answer: nxdomain\n  duration: 10s\n",
    "http": "- name: health\n  type: http\n  service: api\n  port: 8080\n  path: /health\n  every: 1s\n",
    "tcp": "- name: redis port\n  type: tcp\n  service: redis\n  port: 6379\n",
    "command": "- name: redis ping\n  type: command\n  service: redis\n  command: [redis-cli, ping]\n"
               "  output_regex: PONG\n",
    "python": "- name: orders consistent\n  type: python\n  call: checks:orders_consistent\n",
    "container": "- name: inventory up\n  type: container\n  service: inventory\n  expect: healthy\n",
}
# What a fragment needs besides its own list, when the complete example lacks it.
EXAMPLE_CONTEXT = {
    "faults:http": {"links": ["api -> redis:6379", {"link": "api -> inventory:8081", "protocol": "http"}]},
    "clock_skew": {"targets": {"compose": "../targets/shop/compose.yaml",
                               "services": {"api": {"image": "chaos-shop-api:v1", "clock": "skewable",
                                                    "ports": ["127.0.0.1::8080"]}}}},
}
# Values a generated example uses for a required field, by field name, then by unit kind.
SAMPLE_BY_NAME = {"link": "api -> redis:6379", "service": "inventory", "services": ["inventory"], "name": "example",
                  "port": 8080, "path": "/", "command": ["true"], "call": "checks:ok"}
SAMPLE_BY_UNIT = {"duration": "10s", "milliseconds": "200ms", "signed duration": "+30s", "fraction": "50%",
                  "rate": "100KB/s", "size": "64KB", "clock rate": 1.05, "signal": "SIGTERM"}


# ---- rendering -----------------------------------------------------------------------------


def update(text: str) -> str:
    """``text`` with every generated region rendered anew."""
    explicit = {m.group("arg") for m in REGION.finditer(text) if m.group("kind") == "fields"}

    def render(match: re.Match) -> str:
        body = render_region(match.group("kind"), match.group("arg"), explicit)
        return f"{match.group(1)}{body}{match.group(5)}"

    return REGION.sub(render, text)


def covered_models(text: str) -> set[type[BaseModel]]:
    """The models whose keys the page's regions list."""
    covered: set = set()
    explicit = {m.group("arg") for m in REGION.finditer(text) if m.group("kind") == "fields"}
    for match in REGION.finditer(text):
        render_region(match.group("kind"), match.group("arg"), explicit, covered)
    return covered


def render_region(kind: str, arg: str | None, explicit: set[str], covered: set | None = None) -> str:
    covered = covered if covered is not None else set()
    if kind == "example":
        return f"```yaml\n{EXAMPLE}```\n"
    if kind == "units":
        return _units_table()
    if kind == "metrics":
        return _metrics_list()
    if kind == "errors":
        return _errors()
    if kind == "fields":
        return _fields_block(_model(arg), explicit, covered)
    if kind == "variants":
        return _variants(arg, explicit, covered)
    raise ValueError(f"unknown generated region kind {kind!r}")


def _model(name: str) -> type[BaseModel]:
    for model in schema.reachable_models():
        if model.__name__ == name:
            return model
    raise ValueError(f"no model named {name!r} in an experiment")


def anchor(model: type[BaseModel]) -> str:
    return f"model-{model.__name__.lower()}"


def _fields_block(model, explicit: set[str], covered: set, skip: tuple[str, ...] = (), level: int = 0) -> str:
    """A table of ``model``'s keys, then tables of nested models that have no region of their own."""
    covered.add(model)
    rows = ["| key | type | default | what it is |", "| --- | --- | --- | --- |"]
    nested = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        key = info.alias or name
        rows.append(f"| `{key}` | {type_text(model, name)} | {default_text(info)} | "
                    f"{_cell(schema.field_description(model, name) or '')} |")
        for inner in _models_in(field_annotation(model, info)):
            if inner.__name__ not in explicit and inner not in covered and inner not in nested:
                nested.append(inner)
    out = [f'<a id="{anchor(model)}"></a>\n', "\n".join(rows) + "\n"]
    for inner in nested:
        if inner in covered:
            continue
        description = schema.model_description(inner)
        out.append(f"\n**{inner.__name__}**{': ' + description if description else ''}\n\n")
        out.append(_fields_block(inner, explicit, covered, level=level + 1))
    return "".join(out)


def _with_unit(kind: str, value: float) -> str:
    if kind == "duration":
        return "0s" if value == 0 else units.format_duration(value)
    if kind == "milliseconds":
        return f"{value:g}ms"
    if kind == "fraction":
        return f"{value * 100:g}%"
    if kind == "rate":
        return f"{value:g}KB/s"
    return f"{value:g}"


def _models_in(annotation) -> list[type[BaseModel]]:
    shape = shape_of(annotation)
    if shape.kind == "model":
        return [shape.model]
    if shape.kind in ("list", "dict"):
        return _models_in(shape.item)
    if shape.kind == "union":
        return [m for member in shape.members for m in _models_in(member)]
    return []  # tagged lists have their own 'variants' region


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# Text fields with a shape of their own (checked by a validator, not by their type).
TYPE_NAMES = {"LinkFault.link": "link", "Load.target": "service:port", "Experiment.name": "name"}


def type_text(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    kind = schema.unit_kind(info.annotation, info.metadata)
    named = TYPE_NAMES.get(f"{schema.owner(model, name).__name__}.{name}")
    text = named or kind or _annotation_text(field_annotation(model, info))
    bounds = _bounds(info.metadata)
    return _cell(f"{text} {bounds}" if bounds else text)


def _bounds(metadata) -> str:
    low = next((f"≥ {m.ge}" for m in metadata if hasattr(m, "ge") and m.ge is not None), None) or next(
        (f"> {m.gt}" for m in metadata if hasattr(m, "gt") and m.gt is not None), None)
    high = next((f"≤ {m.le:,}".replace(",", " ") for m in metadata if hasattr(m, "le") and m.le is not None), None)
    return ", ".join(b for b in (low, high) if b)


def _annotation_text(annotation) -> str:
    kind = schema.unit_kind(annotation)
    if kind:
        return kind
    if typing.get_origin(annotation) is typing.Annotated and any(
            getattr(meta, "func", None) is getattr(spec, "link_text", None) for meta in typing.get_args(annotation)[1:]):
        return "link (`from -> to:port`)"
    shape = shape_of(annotation)
    if shape.kind == "model":
        return f"[{shape.model.__name__}](#{anchor(shape.model)})"
    if shape.kind == "list":
        return f"list of {_annotation_text(shape.item)}"
    if shape.kind == "dict":
        item = _annotation_text(shape.item) if shape.item is not typing.Any else "any value"
        return f"mapping of name → {item}"
    if shape.kind == "union":
        return " or ".join(dict.fromkeys(_annotation_text(member) for member in shape.members))
    if shape.kind == "tagged":
        return "kinds of [faults](#faults) or [probes](#probes), by `type`"
    scalar = shape.scalar
    if typing.get_origin(scalar) is typing.Literal:
        return "one of " + ", ".join(f"`{value}`" for value in typing.get_args(scalar))
    return {str: "text", int: "integer", float: "number", bool: "true/false"}.get(scalar, "any value")


def default_text(info) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, BaseModel):
        return "each key's default"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "see what it is"
    kind = schema.unit_kind(info.annotation, info.metadata)
    if kind and isinstance(value, (int, float)):
        return f"`{_with_unit(kind, value)}`"
    if isinstance(value, (list, dict)) and not value:
        return "none"
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return f"`{text}`"


# ---- tagged lists (faults, probes) ----------------------------------------------------------


def _variants(field: str, explicit: set[str], covered: set) -> str:
    shapes = schema.tagged_unions()
    if field not in shapes:
        raise ValueError(f"Experiment.{field} is not a list of kinds")
    shape = shapes[field]
    models = list(dict.fromkeys(shape.tags.values()))
    shared = _shared_bases(models)
    out = []
    for base in shared:
        users = [schema.tags_of(m)[0] for m in models if issubclass(m, base)]
        own = [n for n in _declared(base) if n in base.model_fields]
        if not own:
            continue
        who = "every kind" if len(users) == len(models) else ", ".join(f"`{u}`" for u in users)
        out.append(f"#### Keys of {who}\n\n")
        description = schema.model_description(base)
        if description:
            out.append(f"{description}\n\n")
        rows = ["| key | type | default | what it is |", "| --- | --- | --- | --- |"]
        for name in own:
            info = base.model_fields[name]
            rows.append(f"| `{info.alias or name}` | {type_text(base, name)} | {default_text(info)} | "
                        f"{_cell(schema.field_description(base, name) or '')} |")
        out.append("\n".join(rows) + "\n\n")
    for model in models:
        tag = schema.tags_of(model)[0]
        out.append(f"#### `type: {tag}`\n\n")
        description = schema.model_description(model)
        if description:
            out.append(f"{description}\n\n")
        # A key a family redefines (a dns fault's `name` is the name looked up) is its own.
        inherited = tuple(n for base in shared if issubclass(model, base) for n in base.model_fields
                          if n not in model.__dict__.get("__annotations__", {}))
        inherited += ("type",)
        if any(n not in inherited for n in model.model_fields):
            out.append(_fields_block(model, explicit, covered, skip=inherited) + "\n")
        else:
            covered.add(model)
            out.append("No keys of its own.\n\n")
        context = _keyed(EXAMPLE_CONTEXT, model, field)
        shown = yaml.safe_dump(context, sort_keys=False, default_flow_style=None) if context else ""
        out.append(f"```yaml\n{shown}{field}:\n{_indent(example_for(model, field))}```\n\n")
    return "".join(out)


def _shared_bases(models: list[type[BaseModel]]) -> list[type[BaseModel]]:
    """Classes between the variants and Strict that two or more variants share, most general first."""
    bases = []
    for model in models:
        for cls in reversed(model.__mro__):
            if (isinstance(cls, type) and issubclass(cls, BaseModel) and cls not in models and cls not in bases
                    and cls not in (BaseModel, spec.Strict)
                    and sum(issubclass(m, cls) for m in models) >= 2):
                bases.append(cls)
    return bases


def _declared(cls) -> list[str]:
    return list(cls.__dict__.get("__annotations__", {}))


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _keyed(table: dict, model: type[BaseModel], field: str):
    """A kind's entry in EXAMPLES or EXAMPLE_CONTEXT: ``field:tag`` where two lists share a tag (an http fault,
    an http probe), else ``tag``."""
    tag = schema.tags_of(model)[0]
    return table.get(f"{field}:{tag}", table.get(tag))


def example_for(model: type[BaseModel], field: str) -> str:
    """The example of one kind, as a list item (without the list's key)."""
    tag = schema.tags_of(model)[0]
    if _keyed(EXAMPLES, model, field):
        return _keyed(EXAMPLES, model, field)
    item = {"type": tag}
    for name, info in model.model_fields.items():
        if info.is_required() and name != "type":
            item[info.alias or name] = _sample(model, name)
    return yaml.safe_dump([item], sort_keys=False)


def example_fragment(model: type[BaseModel], field: str) -> dict:
    """The example of one kind as a fragment: the list, and whatever context it needs."""
    fragment = dict(_keyed(EXAMPLE_CONTEXT, model, field) or {})
    fragment[field] = yaml.safe_load(example_for(model, field))
    return fragment


def _sample(model, name):
    info = model.model_fields[name]
    if name in SAMPLE_BY_NAME:
        return SAMPLE_BY_NAME[name]
    kind = schema.unit_kind(info.annotation, info.metadata)
    if kind:
        return SAMPLE_BY_UNIT[kind]
    shape = shape_of(field_annotation(model, info))
    if shape.kind == "scalar" and typing.get_origin(shape.scalar) is typing.Literal:
        return typing.get_args(shape.scalar)[0]
    if shape.kind == "model":
        return {n: _sample(shape.model, n) for n, i in shape.model.model_fields.items() if i.is_required()}
    low = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), 1)
    return {int: low, float: float(low), str: "example", bool: True}.get(shape.scalar, "example")


# ---- units and metrics ------------------------------------------------------------------------


def _units_table() -> str:
    rows = ["| kind | written as | examples |", "| --- | --- | --- |"]
    for kind, fragment in schema.UNIT_KINDS.items():
        examples = ", ".join(f"`{e}`" for e in fragment["examples"])
        rows.append(f"| {kind} | {_cell(fragment['description'])} | {examples} |")
    return "\n".join(rows) + "\n"


def _errors() -> str:
    from chaos.errors import SpecError

    shown = "experiments/broken.yaml"
    try:
        spec.load_experiment(PAGE.parent.parent / shown, {}, text=BROKEN)
        raise AssertionError("the broken example validates")
    except SpecError as exc:
        lines = [str(problem).replace(str(PAGE.parent.parent / shown), shown) for problem in exc.problems]
    numbered = "".join(f"{n:2}  {line}\n" for n, line in enumerate(BROKEN.splitlines(), 1))
    return (f"```text\n{numbered}```\n\n```console\n$ chaos validate {shown}\n" + "\n".join(lines)
            + "\n$ echo $?\n2\n```\n")


def _metrics_list() -> str:
    by_unit: dict[str, list[str]] = {}
    for metric in metrics.REGISTRY.values():
        by_unit.setdefault(metric.unit.written, []).append(f"`{metric.name}`")
    lines = [f"- {', '.join(names)}: {unit}" for unit, names in by_unit.items()]
    lines.append("\nA check with `probe: NAME` judges that probe's results instead; it takes "
                 + ", ".join(f"`{m}`" for m in metrics.PROBE) + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = PAGE.read_text(encoding="utf-8")
    fresh = update(text)
    if "--write" in argv:
        PAGE.write_text(fresh, encoding="utf-8")
        print(f"{PAGE}: {'updated' if fresh != text else 'already up to date'}")
        return 0
    if "--check" in argv:
        print(f"{PAGE}: {'out of date: run python -m chaos.reference --write' if fresh != text else 'up to date'}")
        return 1 if fresh != text else 0
    sys.stdout.write(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
