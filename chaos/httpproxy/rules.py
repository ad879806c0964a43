"""The rules of an HTTP link's proxy: which requests an http fault touches and what it does to them. Pure.

Standard library only: this module runs twice, in the harness (unit tests, the dry run's wording) and in the
link's proxy container next to mitmproxy (``server.py``), where it is copied in when the container is made.

A rule is one http fault, as JSON (``Rule.to_json``/``from_json``) so the harness can send it to the proxy's
control endpoint. A :class:`RuleSet` holds the rules active on one link and decides each request:

- rules are checked in the order of the experiment's faults (``order``), whatever order they were injected in;
- a rule *matches* on method, path (a glob, or a regex), headers and query parameters (globs);
- a matching rule counts the request (its ``n``, from 1) and *selects* it when ``first``, ``every`` and
  ``probability`` all say so; the probability is drawn from the plan's seed, the fault and ``n`` alone, so
  the same seed picks the same requests in every run;
- a selected ``delay`` adds its delay (before forwarding, or before answering) and checking goes on;
- a selected ``status`` or ``abort`` ends it: the request never reaches the upstream (abort ``mid_body``
  does reach it: the upstream's answer is cut short);
- ``rewrite`` and ``corrupt`` change the upstream's answer, in rule order.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import threading
import time
from dataclasses import asdict, dataclass, field

ABORTS = ("close", "reset", "mid_body")
DELAY_POINTS = ("request", "response")
ANSWERING = ("status", "abort")  # actions that end the checking: the request is answered (or not) by the proxy
INJECTED_HEADER = "X-Chaos-Injected"  # on every answer the proxy made up or changed: "<fault id> <action>"


@dataclass(frozen=True)
class Match:
    method: str | None = None  # upper case
    path: str | None = None  # a glob over the path without the query ("/stock/*")
    path_regex: str | None = None  # a regex searched in the path (re.search)
    headers: dict[str, str] = field(default_factory=dict)  # header name -> glob of its value
    query: dict[str, str] = field(default_factory=dict)  # query parameter -> glob of its value

    def matches(self, method: str, path: str, headers: dict[str, str], query: dict[str, str]) -> bool:
        if self.method and method.upper() != self.method:
            return False
        if self.path and not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.path_regex and not re.search(self.path_regex, path):
            return False
        lowered = {name.lower(): value for name, value in headers.items()}
        for name, glob in self.headers.items():
            value = lowered.get(name.lower())
            if value is None or not fnmatch.fnmatchcase(value, glob):
                return False
        return all(name in query and fnmatch.fnmatchcase(query[name], glob) for name, glob in self.query.items())

    def describe(self) -> str:
        parts = [self.method or "", self.path or (f"~{self.path_regex}" if self.path_regex else "")]
        parts += [f"{name}: {glob}" for name, glob in self.headers.items()]
        parts += [f"?{name}={glob}" for name, glob in self.query.items()]
        return " ".join(p for p in parts if p) or "every request"


@dataclass(frozen=True)
class Rule:
    id: str  # the fault's id
    order: int  # the fault's place in the experiment: rules are checked in this order
    match: Match = field(default_factory=Match)
    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    abort: str | None = None  # close, reset, mid_body
    delay_ms: float = 0.0
    delay_at: str = "request"  # before forwarding, or before answering
    rewrite: tuple[str, str] | None = None  # (find, replace) in the upstream's answer
    corrupt: int = 0  # bytes of the upstream's answer overwritten
    probability: float = 1.0
    first: int | None = None
    every: int | None = None
    seed: int = 0

    @property
    def action(self) -> str:
        """What the rule does, as the records and the report name it."""
        for name, on in (("status", self.status is not None), ("abort", self.abort), ("rewrite", self.rewrite),
                         ("corrupt", self.corrupt)):
            if on:
                return name
        return "delay"

    def selects(self, n: int) -> bool:
        """Whether the rule acts on the ``n``-th request it matched (from 1)."""
        if self.first is not None and n > self.first:
            return False
        if self.every is not None and n % self.every:
            return False
        return self.probability >= 1.0 or draw(self.seed, self.id, n) < self.probability

    def to_json(self) -> dict:
        data = asdict(self)
        data["rewrite"] = list(self.rewrite) if self.rewrite else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> Rule:
        data = dict(data)
        data["match"] = Match(**(data.get("match") or {}))
        data["rewrite"] = tuple(data["rewrite"]) if data.get("rewrite") else None
        return cls(**data)


def draw(seed: int, rule_id: str, n: int) -> float:
    """A number in [0, 1) fixed by the seed, the rule and the request's index: the same requests are picked in
    every run with the plan's seed, whichever order requests of other rules came in."""
    digest = hashlib.blake2b(f"{seed}:{rule_id}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def corrupt_bytes(data: bytes, count: int, seed: int, rule_id: str, n: int) -> bytes:
    """``count`` bytes of ``data`` overwritten at places (and with values) fixed by the seed."""
    if not data or count <= 0:
        return data
    buffer = bytearray(data)
    for k in range(count):
        where = int(draw(seed, f"{rule_id}:at:{k}", n) * len(buffer))
        buffer[where] = (buffer[where] + 1 + int(draw(seed, f"{rule_id}:to:{k}", n) * 255)) % 256  # always changed
    return bytes(buffer)


@dataclass
class Decision:
    """What the proxy does to one request."""

    request_delay_s: float = 0.0  # before forwarding (or before the made-up answer)
    answer: Rule | None = None  # a status rule: answer it without forwarding
    abort: Rule | None = None  # close/reset now, or mid_body once the upstream answered
    response_rules: list[tuple[Rule, int]] = field(default_factory=list)  # delay at response, rewrite, corrupt
    touched: list[tuple[Rule, str]] = field(default_factory=list)  # (rule, action) for the records

    @property
    def response_delay_s(self) -> float:
        return sum(rule.delay_ms for rule, _ in self.response_rules if rule.delay_ms and rule.action == "delay"
                   and rule.delay_at == "response") / 1000

    def injected_header(self) -> str:
        return ", ".join(f"{rule.id} {action}" for rule, action in self.touched)


class RuleSet:
    """The rules active on one link, with each one's count of requests it matched; thread-safe (the control
    endpoint changes rules while mitmproxy's loop decides requests)."""

    def __init__(self, clock=time.time, max_records: int = 500_000):
        self._lock = threading.Lock()
        self._rules: dict[str, Rule] = {}
        self._counts: dict[str, int] = {}
        self._records: list[dict] = []
        self._records_of: dict[str, list[dict]] = {}  # the same records per fault: a revert reads only its own
        self._clock = clock
        self._max_records = max_records
        self.dropped = 0  # records not kept past max_records

    def put(self, rule: Rule) -> None:
        """Add a rule, or change it in place (a ramp step): its count goes on, so ``first`` and the seeded
        draws go on from where they were."""
        with self._lock:
            self._rules[rule.id] = rule
            self._counts.setdefault(rule.id, 0)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            self._counts.pop(rule_id, None)
            return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._counts.clear()

    @property
    def empty(self) -> bool:
        """No rule at all: the proxy passes every request on without looking at it (read without the lock: a
        rule put while a request is being read applies from the next request on)."""
        return not self._rules

    def rules(self) -> list[Rule]:
        with self._lock:
            return sorted(self._rules.values(), key=lambda r: (r.order, r.id))

    def decide(self, method: str, path: str, headers: dict[str, str], query: dict[str, str]) -> Decision:
        decision = Decision()
        now = self._clock()
        with self._lock:
            for rule in sorted(self._rules.values(), key=lambda r: (r.order, r.id)):
                if not rule.match.matches(method, path, headers, query):
                    continue
                self._counts[rule.id] += 1
                n = self._counts[rule.id]
                if not rule.selects(n):
                    continue
                self._touch(decision, rule, n, now, method, path)
                if decision.answer or (decision.abort and decision.abort.abort != "mid_body"):
                    break
        return decision

    def _touch(self, decision: Decision, rule: Rule, n: int, now: float, method: str, path: str) -> None:
        action = rule.action
        if rule.delay_ms and (action != "delay" or rule.delay_at == "request"):
            decision.request_delay_s += rule.delay_ms / 1000
        if action == "status":
            decision.answer = rule
        elif action == "abort" and decision.abort is None:
            decision.abort = rule
        elif action in ("rewrite", "corrupt") or (action == "delay" and rule.delay_at == "response"):
            decision.response_rules.append((rule, n))
        decision.touched.append((rule, action))
        self._record({"t": round(now, 6), "fault": rule.id, "n": n, "method": method, "path": path,
                      "action": action})

    def _record(self, record: dict) -> None:
        if len(self._records) < self._max_records:
            self._records.append(record)
            self._records_of.setdefault(record["fault"], []).append(record)
        else:
            self.dropped += 1

    def records(self, start: int = 0, limit: int = 50_000, fault: str | None = None) -> tuple[list[dict], int]:
        """The requests touched so far (of ``fault`` only, when given), from index ``start`` on (at most
        ``limit``), and the index to ask from next: the harness fetches them in pieces. Per fault, because a
        fault repeated every half second would otherwise fetch every earlier occurrence's records on each
        revert (measured: revert p99 200 ms after 40 occurrences)."""
        found, following, _ = self.records_page(start, fault, limit)
        return found, following

    def records_page(self, start: int, fault: str | None = None, limit: int = 50_000) -> tuple[list[dict], int, bool]:
        """``records`` and whether that page reached the end (the harness then need not ask again)."""
        with self._lock:
            kept = self._records if fault is None else self._records_of.get(fault, [])
            found = kept[start:start + limit]
            return found, start + len(found), start + len(found) >= len(kept)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
