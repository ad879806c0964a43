"""DNS faults: one service's lookups of chosen names answered wrongly (a response code, no answer, a wrong
address) or late, through a dnslib server of the run that the service resolves through (chaos/faults/dns.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from chaos.dns.rules import RCODES, TIMEOUT, address_problem, pattern_problem
from chaos.errors import Problem, did_you_mean
from chaos.spec.base import Duration, Fraction
from chaos.spec.faults import FaultSpec

if TYPE_CHECKING:
    from chaos.spec.loading import LoadedExperiment

ANSWER_WORDS = (*RCODES, TIMEOUT)


class Dns(FaultSpec):
    """``service``'s lookups of ``name`` (exact, or a glob with * and ?) get ``answer`` (nxdomain, servfail,
    refused, timeout, an address, or another service's address) or are answered ``delay`` late."""

    family: ClassVar[str] = "dns"
    type: Literal["dns"]
    service: str = Field(description="whose lookups: a service the harness starts")
    name: str = Field(description="the name looked up: exact (inventory) or a glob (*.example.com)")
    title: str | None = Field(None, description="the fault's own name in reports (`name` is the name looked up)")
    answer: str | None = Field(None, description="nxdomain, servfail, refused, timeout (no answer), an IP address, "
                                                 "or a service of the experiment (its address)")
    delay: Duration | None = Field(None, description="answer this late, then as without the fault")
    probability: Fraction = Field(1.0, description="share of matching queries the fault acts on (seeded)")

    def target(self) -> str:
        return self.service

    def display_name(self) -> str | None:
        return self.title

    def answer_kind(self) -> str | None:
        """nxdomain/servfail/refused/timeout, 'address' (an IP), 'service' (a name), or None (a delay)."""
        if self.answer is None:
            return None
        if self.answer.lower() in ANSWER_WORDS:
            return self.answer.lower()
        return "address" if address_problem(self.answer) is None else "service"

    def params(self) -> dict:
        found = {"service": self.service, "name": self.name, "probability": self.probability}
        kind = self.answer_kind()
        if kind is None:
            return {**found, "action": "delay", "delay_s": self.delay}
        if kind == "address":
            return {**found, "action": "address", "address": self.answer}
        if kind == "service":
            return {**found, "action": "address", "address_of": self.answer}
        return {**found, "action": kind}

    def problems(self):
        found = super().problems()
        why = pattern_problem(self.name)
        if why:
            found.append((("name",), f"{self.name!r} can never match a lookup: {why}"))
        if (self.answer is None) == (self.delay is None):
            found.append(((), "give either answer (nxdomain, servfail, refused, timeout or an address) or delay"))
        elif self.delay is not None and self.delay <= 0:
            found.append((("delay",), "must be longer than 0s"))
        if self.probability <= 0:
            found.append((("probability",), "a probability of 0 faults no query"))
        return found


def dns_fault_problems(loaded: LoadedExperiment) -> list[Problem]:
    """The service must be one the harness starts (it resolves through the run's DNS server from its creation);
    an answer that is no keyword and no address must be a service of the experiment."""
    exp, source, services = loaded.experiment, loaded.source, loaded.services
    problems: list[Problem] = []
    for i, fault in enumerate(exp.faults):
        if not isinstance(fault, Dns):
            continue
        if fault.service not in services:
            more = did_you_mean(fault.service, services, f" (services: {', '.join(services)})")
            problems.append(source.problem(("faults", i, "service"),
                                           f"{fault.service!r} is not a service of this experiment{more}"))
        elif services[fault.service].attach:
            problems.append(source.problem(("faults", i, "service"), f"{fault.service!r} is attached: its lookups go "
                                           "where its own resolv.conf says, which the harness never changes"))
        if fault.answer_kind() == "service" and fault.answer not in services:
            more = did_you_mean(fault.answer, services, f" (services: {', '.join(services)})")
            problems.append(source.problem(("faults", i, "answer"), f"{fault.answer!r} is not an address (IPv4 or "
                                           f"IPv6), nor nxdomain, servfail, refused, timeout, nor a service of this "
                                           f"experiment{more}"))
    return problems
