"""YAML from the docs as experiments: a fragment (some keys, or a bare list of faults or probes) laid over the
reference page's complete example, so that it validates the way a reader would use it."""

from __future__ import annotations

import copy

import yaml

from chaos import reference, schema


def as_experiment(data) -> dict:
    """A full experiment as is; a fragment laid over the reference page's complete example."""
    if isinstance(data, dict) and "name" in data and "targets" in data:
        return data
    merged = copy.deepcopy(yaml.safe_load(reference.EXAMPLE))
    if isinstance(data, list):  # a list of faults or probes, shown without its key
        kinds = {tag: field for field, shape in schema.tagged_unions().items() for tag in shape.tags}
        data = {kinds.get(data[0]["type"], "faults"): data}
    merged.update(data)
    return merged
