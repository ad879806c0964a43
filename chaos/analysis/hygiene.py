"""Secrets and JSON hygiene for the summary: which strings must never be rendered, and a JSON-safe copy.

See "Secrets" in ``chaos.analysis``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chaos.secrets import ordered, secret_env_values

REDACTED = "***"


def secrets_of(plan: dict, extra=()) -> list[str]:
    """Strings that must never be rendered, longest first (so overlapping ones go whole).

    A real plan.json holds no secret values (the runner passes them as ``extra``); a plan
    written by hand or by another tool may list ``secrets`` or carry target environments.
    """
    found = [s for s in plan.get("secrets") or [] if isinstance(s, str) and s] + list(extra)
    for target in _targets(plan):
        env = target.get("env") or target.get("environment") or {}
        if isinstance(env, dict):
            found += secret_env_values({k: v for k, v in env.items() if v not in (None, "", "<set>")})
    return ordered(found)


def _targets(plan: dict) -> list[dict]:
    targets = plan.get("targets") or []
    if isinstance(targets, dict):
        targets = list(targets.values())
    return [t for t in targets if isinstance(t, dict)]


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, floats to 6 significant digits."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
