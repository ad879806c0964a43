"""HTTP links and http faults: answers made up (``status``), requests dropped (``abort``), delayed, or their
answers changed (``rewrite``, ``corrupt``), per request, by route, with a probability. Carried out by the
link's mitmproxy (chaos/httpproxy); a rule is the fault as that proxy takes it."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from chaos.httpproxy.rules import ABORTS, Match, Rule
from chaos.spec.base import Bytes, Duration, Fraction, Headers, LinkText, Milliseconds, Strict, link_text
from chaos.spec.faults import FaultSpec
from chaos.spec.link_faults import RAMP_MIN_STEP

PROTOCOLS = ("tcp", "http")
HTTP_DEFAULT_DURATION = 20.0  # an http fault that names no duration lasts this long
METHOD = re.compile(r"^[A-Z]+$")


class LinkSpec(Strict):
    """A link written as a mapping, to say what it carries: ``{link: api -> inventory:8081, protocol: http}``.
    A TCP link (the default) goes through Toxiproxy; an HTTP link through mitmproxy, and takes http faults."""

    link: LinkText
    protocol: Literal["tcp", "http"] = "tcp"


class HttpMatch(Strict):
    """Which requests the fault may touch; every field given must match (none given: every request)."""

    method: str | None = Field(None, description="GET, POST, ... (any case)")
    path: str | None = Field(None, description="a glob over the path without the query: /stock/*")
    path_regex: str | None = Field(None, description="a regular expression searched in the path: ^/stock/[0-9]+$")
    headers: dict[str, str] = Field(default_factory=dict, description="header name -> glob of its value")
    query: dict[str, str] = Field(default_factory=dict, description="query parameter -> glob of its value")

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None and not METHOD.match(value.upper()):
            raise ValueError(f"{value!r} is not an HTTP method (letters only, e.g. GET)")
        return value.upper() if value else value

    @field_validator("path_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("path")
    @classmethod
    def _glob(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("/", "*")):
            raise ValueError(f"{value!r} is not a path glob (it starts with '/', e.g. /stock/*)")
        return value

    def to_match(self) -> Match:
        return Match(self.method, self.path, self.path_regex, dict(self.headers), dict(self.query))


class Rewrite(Strict):
    find: str = Field(min_length=1)
    replace: str


class HttpRamp(Strict):
    """Moves the probability and/or the delay from the fault's own values to these over ``over``."""

    probability: Fraction | None = None
    delay: Milliseconds | None = None
    over: Duration
    step: Duration = 1.0


class Http(FaultSpec):
    family: ClassVar[str] = "http"
    type: Literal["http"]
    link: str
    duration: Duration = HTTP_DEFAULT_DURATION
    match: HttpMatch = Field(default_factory=HttpMatch)
    status: int | None = Field(None, description="answer with this status, never forwarding the request")
    body: str = Field("", description="the body of a made-up answer")
    headers: Headers = Field(default_factory=dict, description="headers of a made-up answer, e.g. Retry-After")
    abort: Literal["close", "reset", "mid_body"] | None = Field(
        None, description="close: closed unanswered; reset: TCP reset; mid_body: half the upstream's answer, then closed")
    delay: Milliseconds | None = None
    delay_at: Literal["request", "response"] = Field("request", description="before forwarding, or before answering")
    rewrite: Rewrite | None = Field(None, description="replace text in the upstream's answer")
    corrupt: Bytes | None = Field(None, description="overwrite this many bytes of the upstream's answer")
    probability: Fraction = 1.0
    first: int | None = Field(None, ge=1, description="only the first N matching requests")
    every: int | None = Field(None, ge=1, description="only every Nth matching request")
    ramp: HttpRamp | None = None

    def target(self) -> str:
        return self.link

    @field_validator("link")
    @classmethod
    def _link_shape(cls, value: str) -> str:
        return link_text(value)

    @field_validator("status")
    @classmethod
    def _status(cls, value: int | None) -> int | None:
        if value is not None and not 100 <= value <= 599:
            raise ValueError(f"{value} is not an HTTP status (100..599)")
        return value

    def actions(self) -> list[str]:
        return [name for name in ("status", "abort", "rewrite", "corrupt") if getattr(self, name) is not None]

    def params(self) -> dict:
        """The fault as the link's proxy takes it (a rule without its id, order and seed, which the plan sets)."""
        rule = Rule(id="", order=0, match=self.match.to_match(), status=self.status, body=self.body,
                    headers=dict(self.headers), abort=self.abort, delay_ms=self.delay or 0.0, delay_at=self.delay_at,
                    rewrite=(self.rewrite.find, self.rewrite.replace) if self.rewrite else None,
                    corrupt=self.corrupt or 0, probability=self.probability, first=self.first, every=self.every)
        return {k: v for k, v in rule.to_json().items() if k not in ("id", "order", "seed")}

    def updates(self) -> list[dict]:
        """A ramp: one change of the rule in place per step (its count of requests goes on)."""
        if not self.ramp or self.ramp.step <= 0 or self.ramp.over <= 0:
            return []
        updates, k = [], 1
        while True:
            after = min(round(k * self.ramp.step, 9), self.ramp.over)
            if after >= self.duration:
                break
            share = after / self.ramp.over
            change = {}
            if self.ramp.probability is not None:
                change["probability"] = round(self.probability + (self.ramp.probability - self.probability) * share, 6)
            if self.ramp.delay is not None:
                start = self.delay or 0.0
                change["delay_ms"] = round(start + (self.ramp.delay - start) * share, 3)
            updates.append({"after": after, "set": change})
            if after >= self.ramp.over:
                break
            k += 1
        return updates

    def update_count(self) -> int:
        if not self.ramp or self.ramp.step <= 0 or self.ramp.over <= 0:
            return 0
        return int(self.ramp.over / self.ramp.step) + 1

    def problems(self):
        found = super().problems()
        actions = self.actions()
        if len(actions) > 1:
            found.append(((actions[1],), f"one action per fault: {' and '.join(actions)} given (a delay may go "
                                         "with any of them); write a second fault"))
        if not actions and self.delay is None:
            found.append(((), "say what the fault does: status, abort, delay, rewrite or corrupt"))
        if (self.body or self.headers) and self.status is None:
            found.append(((("body",) if self.body else ("headers",)), "body and headers are those of a made-up "
                                                                       "answer: they go with status"))
        if self.delay is not None and self.delay <= 0:
            found.append((("delay",), "must be longer than 0ms"))
        if self.delay_at == "response" and (self.status is not None or self.abort in ("close", "reset")):
            found.append((("delay_at",), "a made-up or aborted answer has no upstream answer to delay: use "
                                         "delay_at: request"))
        if self.probability <= 0 and not (self.ramp and self.ramp.probability):
            found.append((("probability",), "0% touches no request"))
        found += self._ramp_problems()
        return found

    def _ramp_problems(self):
        ramp, found = self.ramp, []
        if ramp is None:
            return found
        if ramp.probability is None and ramp.delay is None:
            found.append((("ramp",), "say what moves: probability, delay or both"))
        if ramp.delay is not None and self.delay is None:
            found.append((("ramp", "delay"), "the fault has no delay to move (give it delay: as the start)"))
        if ramp.over <= 0:
            found.append((("ramp", "over"), "must be longer than 0s"))
        elif ramp.over > self.duration:
            found.append((("ramp", "over"), "the ramp outlasts the fault"))
        if ramp.step < RAMP_MIN_STEP:
            found.append((("ramp", "step"), f"must be at least {RAMP_MIN_STEP:g}s (each step is one update of the rule)"))
        elif ramp.over > 0 and ramp.step > ramp.over:
            found.append((("ramp", "step"), "is longer than the ramp itself (over)"))
        return found


__all__ = ["ABORTS", "HTTP_DEFAULT_DURATION", "PROTOCOLS", "Http", "HttpMatch", "HttpRamp", "LinkSpec", "Rewrite"]
