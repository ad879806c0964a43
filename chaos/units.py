"""Durations, sizes and rates as people write them: ``250ms``, ``30s``, ``2m``, ``1h``, ``5%``, ``512KB/s``."""

from __future__ import annotations

import re

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
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _DURATION_FACTORS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration (expected e.g. 250ms, 30s, 2m, 1h)")


def parse_milliseconds(value: object) -> float:
    """Milliseconds from a duration; a bare number means milliseconds here (latency fields)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
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
            raise ValueError(f"{value!r} is not a fraction (expected e.g. 5% or 0.05)") from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise ValueError(f"{value!r} is not a fraction (expected e.g. 5% or 0.05)")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{value!r} is outside 0..100%")
    return number


def parse_rate_kbps(value: object) -> float:
    """KB/s (Toxiproxy's bandwidth unit) from ``"512KB/s"``, ``"2MB/s"`` or a bare number of KB/s."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _RATE.match(value)
        if match:
            return float(match.group(1)) * _RATE_KB[match.group(2).lower()]
    raise ValueError(f"{value!r} is not a rate (expected e.g. 512KB/s or 2MB/s)")


def parse_size_bytes(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = match.group(2).lower() if match.group(2) else None
            return int(float(match.group(1)) * _SIZE_BYTES[unit])
    raise ValueError(f"{value!r} is not a size (expected e.g. 512, 64KB, 1MB)")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"
