"""The field types every section of an experiment shares: durations and sizes as people write them,
HTTP headers, names, the phases, a link as written, and the strict base model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from chaos import units
from chaos.links import Link


Duration = Annotated[float, BeforeValidator(units.parse_duration)]
Milliseconds = Annotated[float, BeforeValidator(units.parse_milliseconds)]
Fraction = Annotated[float, BeforeValidator(units.parse_fraction)]
RateKBps = Annotated[float, BeforeValidator(units.parse_rate_kbps)]
Bytes = Annotated[int, BeforeValidator(units.parse_size_bytes)]
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)


def _safe_headers(headers: dict[str, str]) -> dict[str, str]:
    """A line break in a header would start a header (or a body) of its own: refused, never sent."""
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a header name (letters, digits and !#$%&'*+.^_`|~-)")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"the value of header {name!r} holds a line break (CR or LF) or NUL")
    return headers


Headers = Annotated[dict[str, str], AfterValidator(_safe_headers)]

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
PHASES = ("warmup", "baseline", "fault", "recovery")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def link_text(value: str) -> str:
    """A link as written in `links`, checked one by one so a problem points at its own line."""
    return str(Link.parse(value))


LinkText = Annotated[str, AfterValidator(link_text)]
