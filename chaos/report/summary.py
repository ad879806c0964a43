"""summary -> summary.json (the analysis dict itself, indent 2, key order as built)."""

from __future__ import annotations

import json


def render_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
