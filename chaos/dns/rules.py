"""What a DNS fault does to one query, decided without I/O: name patterns, the rule's action, its seeded
probability, and the counts a rule keeps.

This module runs in two places: in the harness (validation, unit tests) and inside the run's DNS container
(copied there beside ``server.py``), so it imports nothing but the standard library.
"""

from __future__ import annotations

import ipaddress
import random
import re
import threading
from dataclasses import dataclass, field

RCODES = ("nxdomain", "servfail", "refused")  # answered at once with this response code
TIMEOUT = "timeout"  # no answer at all: the client's resolver waits and retries
ACTIONS = (*RCODES, TIMEOUT, "address", "delay")
MAX_NAME = 253  # RFC 1035: a name's text form without the final dot
MAX_LABEL = 63
# What a name may hold in its text form (letters, digits, '-', '_' as in SRV names) plus the glob's * and ?.
PATTERN_LABEL = re.compile(r"^[A-Za-z0-9_*?-]+$")


def pattern_problem(pattern: str) -> str | None:
    """Why a name pattern can never match a name a resolver sends, or None. Patterns are exact names or globs
    with ``*`` (any run of characters, dots included) and ``?`` (one character)."""
    text = pattern.strip()
    if text != pattern or not text:
        return "a name, e.g. inventory, or a glob such as *.example.com"
    if text.endswith("."):
        text = text[:-1]
    if len(text) > MAX_NAME:
        return f"a name is at most {MAX_NAME} characters"
    for label in text.split("."):
        if not label:
            return "an empty label (two dots in a row, or a leading dot): no name has one"
        if not PATTERN_LABEL.match(label):
            bad = sorted({c for c in label if not re.match(r"[A-Za-z0-9_*?-]", c)})
            return f"{''.join(bad)!r} cannot appear in a DNS name (letters, digits, '-', '_'; globs * and ?)"
        if "*" not in label and len(label) > MAX_LABEL:
            return f"label {label[:20]}... is longer than {MAX_LABEL} characters: no name has one"
    return None


def _glob_regex(pattern: str) -> re.Pattern:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower().rstrip(".")]
    return re.compile("^" + "".join(parts) + "$")


def normal_name(name: str) -> str:
    return name.lower().rstrip(".")


def candidates(qname: str, search: list[str]) -> list[str]:
    """The names a query stands for: itself and, where it ends in a search domain of the client's
    resolv.conf, the name the program asked for (glibc tries ``inventory.<domain>`` after ``inventory``)."""
    name = normal_name(qname)
    found = [name]
    for domain in search:
        suffix = "." + normal_name(domain)
        if suffix != "." and name.endswith(suffix) and len(name) > len(suffix):
            found.append(name[: -len(suffix)])
    return found


def address_problem(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        return f"{text!r} is not an IPv4 or IPv6 address"


@dataclass
class Rule:
    """One active DNS fault: which names, what happens to a matched query, on what share of them."""

    id: str
    name: str
    action: str  # one of ACTIONS
    address: str | None = None  # action "address": the wrong answer
    delay_s: float = 0.0  # action "delay": then answered as without the fault
    probability: float = 1.0
    seed: int = 0
    matched: int = 0  # queries whose name matched
    faulted: int = 0  # of those, the ones the fault acted on (the probability drew them)
    _regex: re.Pattern = field(init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action {self.action!r}: one of {', '.join(ACTIONS)}")
        if self.action == "address" and address_problem(self.address or ""):
            raise ValueError(address_problem(self.address or ""))
        self._regex = _glob_regex(self.name)
        self._random = random.Random(self.seed)

    @classmethod
    def from_json(cls, data: dict) -> "Rule":
        keys = ("id", "name", "action", "address", "delay_s", "probability", "seed")
        return cls(**{key: data[key] for key in keys if key in data})

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "action": self.action, "address": self.address,
                "delay_s": self.delay_s, "probability": self.probability, "seed": self.seed}

    def matches(self, names: list[str]) -> bool:
        return any(self._regex.match(name) for name in names)

    def draw(self) -> bool:
        """Count a matched query and say whether the fault acts on it. The draws are one seeded sequence
        per rule, so a run with the same seed faults the same queries in the same order."""
        with self._lock:
            self.matched += 1
            acts = self.probability >= 1.0 or self._random.random() < self.probability
            self.faulted += acts
            return acts

    def counts(self) -> dict:
        return {"matched": self.matched, "faulted": self.faulted}


class RuleSet:
    """The active rules of one DNS server, newest first: the newest matching rule decides a query."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}
        self._lock = threading.Lock()

    def put(self, rule: Rule) -> Rule:
        """Set a rule; the same rule set again keeps its counts and draws (inject is idempotent)."""
        with self._lock:
            current = self._rules.get(rule.id)
            if current is not None and current.to_json() == rule.to_json():
                return current
            self._rules.pop(rule.id, None)
            self._rules[rule.id] = rule
            return rule

    def remove(self, rule_id: str) -> Rule | None:
        with self._lock:
            return self._rules.pop(rule_id, None)

    def get(self, rule_id: str) -> Rule | None:
        with self._lock:
            return self._rules.get(rule_id)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def first_match(self, names: list[str]) -> Rule | None:
        with self._lock:
            rules = list(self._rules.values())
        return next((rule for rule in reversed(rules) if rule.matches(names)), None)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._rules)
