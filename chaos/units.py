"""Durations, sizes and rates as people write them: ``250ms``, ``30s``, ``2m``, ``1h``, ``5%``, ``512KB/s``."""

from __future__ import annotations

import math
import re

# Upper bounds: beyond them a value is a typo (or 1e400), and sleeping on it would overflow.
MAX_SECONDS = 7 * 24 * 3600.0  # one week
MAX_BYTES = 2**50  # 1 PB
MAX_RATE_KBPS = 100 * 1024.0**2  # 100 GB/s

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?\s*$")
_DURATION_FACTORS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)/s\s*$", re.IGNORECASE)
_RATE_KB = {"b": 1 / 1024, "kb": 1.0, "mb": 1024.0, "gb": 1024.0 * 1024.0}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*$", re.IGNORECASE)
_SIZE_BYTES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, None: 1}


def parse_duration(value: object) -> float:
    """Seconds from ``"250ms"``, ``"2m"``, or a bare number (seconds)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 250ms, 30s, 2m or 1h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _at_most(float(value), MAX_SECONDS, value, "a duration", "168h, a week")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _DURATION_FACTORS[match.group(2)]
            return _at_most(seconds, MAX_SECONDS, value, "a duration", "168h, a week")
        if value.strip().startswith("-") and _DURATION.match(value.strip()[1:]):
            raise ValueError(f"a duration cannot be negative ({value!r})")
    raise ValueError(f"{_shown(value)} is not a duration (expected e.g. 250ms, 30s, 2m, 1h)")


def _shown(value: object) -> str:
    """A value in a message: text and numbers as written, containers by kind."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "…"


def _at_most(number: float, limit: float, written: object, what: str, shown: str) -> float:
    """``number`` if finite and within ``limit``; ``written`` is the value as the user gave it."""
    text = repr(written) if len(repr(written)) <= 24 else repr(written)[:20] + "…"
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, not {text}")
    if abs(number) > limit:
        raise ValueError(f"{text} is too large for {what} (at most {shown})")
    return number


def parse_signed_duration(value: object) -> float:
    """Seconds, possibly negative, from ``"+30s"``, ``"-500ms"`` or a bare number (clock offsets)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _at_most(float(value), MAX_SECONDS, value, "an offset", "168h, a week")
    if isinstance(value, str):
        text = value.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        try:
            return sign * parse_duration(text.lstrip("+-") if text[:1] in "+-" else text)
        except ValueError:
            pass
    raise ValueError(f"{_shown(value)} is not an offset (expected e.g. +30s, -5s, -250ms)")


_PPM = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*ppm\s*$", re.IGNORECASE)


def parse_clock_rate(value: object) -> float:
    """A clock's rate against real time: ``1.05`` (5 % fast) or ``"200ppm"`` / ``"-50ppm"``."""
    if isinstance(value, bool):
        raise ValueError("expected a rate like 1.05 or 200ppm")
    if isinstance(value, (int, float)):
        rate = float(value)
    elif isinstance(value, str) and _PPM.match(value):
        rate = 1.0 + float(_PPM.match(value).group(1)) / 1e6
    else:
        try:
            rate = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{_shown(value)} is not a clock rate (expected e.g. 1.05, 0.98 or 200ppm)") from None
    if not 0.0 < rate <= 100.0:
        raise ValueError(f"{value!r}: a clock rate must be above 0 and at most 100")
    return rate


def parse_milliseconds(value: object) -> float:
    """Milliseconds from a duration; a bare number means milliseconds here (latency fields)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _at_most(float(value), MAX_SECONDS * 1000.0, value, "a duration", "168h, a week")
    return parse_duration(value) * 1000.0


def parse_fraction(value: object) -> float:
    """A fraction 0..1 from ``"5%"`` or ``0.05``."""
    if isinstance(value, bool):
        raise ValueError("expected a fraction like 5% or 0.05")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"{_shown(value)} is not a fraction (expected e.g. 5% or 0.05)") from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise ValueError(f"{_shown(value)} is not a fraction (expected e.g. 5% or 0.05)")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{value!r} is outside 0..100%")
    return number


def parse_rate_kbps(value: object) -> float:
    """KB/s (Toxiproxy's bandwidth unit) from ``"512KB/s"``, ``"2MB/s"`` or a bare number of KB/s."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a rate cannot be negative")
        return _at_most(float(value), MAX_RATE_KBPS, value, "a rate", "100GB/s")
    if isinstance(value, str):
        match = _RATE.match(value)
        if match:
            rate = float(match.group(1)) * _RATE_KB[match.group(2).lower()]
            return _at_most(rate, MAX_RATE_KBPS, value, "a rate", "100GB/s")
    raise ValueError(f"{_shown(value)} is not a rate (expected e.g. 512KB/s or 2MB/s)")


def parse_size_bytes(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(_at_most(value, MAX_BYTES, value, "a size", "1PB"))
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = match.group(2).lower() if match.group(2) else None
            return int(_at_most(float(match.group(1)) * _SIZE_BYTES[unit], MAX_BYTES, value, "a size", "1PB"))
    raise ValueError(f"{_shown(value)} is not a size (expected e.g. 512, 64KB, 1MB)")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"
