"""DNS faults without Docker: the forms the issue asks for validate, bad input is one FILE:LINE: field: message
each, names match exactly or by glob (search-domain expansions too), draws are seeded, the client's
resolv.conf keeps Docker's search and options, and the settings read as a person wrote them."""

from __future__ import annotations

import pytest
from support.fault_experiments import fault_problems, load_faults, shop_head

from chaos.dns.rules import Rule, RuleSet, candidates, pattern_problem
from chaos.faults.dns import client_resolv_conf, rule_of, rule_seed
from chaos.plan import fault_settings, make_plan

pytestmark = pytest.mark.unit

HEAD = shop_head("dns", """\
    redis: {image: chaos-shop-redis:1}
    inventory: {image: chaos-shop-inventory:1}
    api: {image: chaos-shop-api:v1, ports: ["127.0.0.1::8080"]}
""")


@pytest.mark.parametrize("fields, params", [
    ("answer: nxdomain", {"action": "nxdomain"}),
    ("answer: servfail", {"action": "servfail"}),
    ("answer: refused", {"action": "refused"}),
    ("answer: timeout", {"action": "timeout"}),
    ("answer: 127.0.0.1", {"action": "address", "address": "127.0.0.1"}),
    ("answer: '::1'", {"action": "address", "address": "::1"}),
    ("answer: redis", {"action": "address", "address_of": "redis"}),
    ("delay: 2s", {"action": "delay", "delay_s": 2.0}),
    ("answer: nxdomain, probability: 30%", {"action": "nxdomain", "probability": 0.3}),
])
def test_the_issue_forms_validate(tmp_path, fields, params):
    loaded = load_faults(tmp_path, HEAD, f"- {{type: dns, service: api, name: inventory, {fields}, at: 0s, duration: 15s}}\n")
    fault = make_plan(loaded, seed=1).faults[0]
    assert (fault.kind, fault.family, fault.target) == ("dns", "dns", "api")
    assert fault.params == {"service": "api", "name": "inventory", "probability": 1.0, **params}
    assert fault.name == "dns on api"


def test_a_title_names_the_fault(tmp_path):
    loaded = load_faults(tmp_path, HEAD, "- {title: no inventory, type: dns, service: api, name: 'inventory*', "
                                         "answer: nxdomain, duration: 5s}\n")
    assert make_plan(loaded).faults[0].name == "no inventory"


@pytest.mark.parametrize("fault, where, message", [
    ("{type: dns, service: api, name: 'inv entory', answer: nxdomain, duration: 5s}", "faults[0].name",
     "can never match a lookup"),
    ("{type: dns, service: api, name: 'a..b', answer: nxdomain, duration: 5s}", "faults[0].name", "empty label"),
    ("{type: dns, service: api, name: inventory, answer: 300.1.2.3, duration: 5s}", "faults[0].answer",
     "is not an address"),
    ("{type: dns, service: apu, name: inventory, answer: nxdomain, duration: 5s}", "faults[0].service",
     "did you mean 'api'"),
    ("{type: dns, service: api, name: inventory, duration: 5s}", "faults[0]", "give either answer"),
    ("{type: dns, service: api, name: inventory, answer: nxdomain, delay: 1s, duration: 5s}", "faults[0]",
     "give either answer"),
    ("{type: dns, service: api, name: inventory, answer: nxdomain, probability: 0%, duration: 5s}",
     "faults[0].probability", "faults no query"),
])
def test_bad_input_is_one_located_line(tmp_path, fault, where, message):
    problems = fault_problems(tmp_path, HEAD, f"- {fault}\n")
    assert len(problems) == 1, problems
    line = HEAD.count("\n") + 1
    assert problems[0].startswith(f"{tmp_path / 'exp.yaml'}:{line}:") and f" {where}: " in problems[0], problems
    assert message in problems[0]


@pytest.mark.parametrize("pattern, why", [("inventory", None), ("*.example.com", None), ("db-?", None),
                                          ("inventory.", None), ("", "a name"), ("a/b", "cannot appear"),
                                          ("x" * 64, "longer than 63"), (".lead", "empty label")])
def test_patterns_that_cannot_match_are_named(pattern, why):
    found = pattern_problem(pattern)
    assert (found is None) if why is None else (why in found), found


def test_exact_and_glob_names_match_and_so_do_search_expansions():
    names = candidates("Inventory.corp.example.", ["corp.example"])
    assert names == ["inventory.corp.example", "inventory"]
    assert Rule("a", "inventory", "nxdomain").matches(names)
    assert Rule("b", "inv*", "nxdomain").matches(names)
    assert not Rule("c", "inventory", "nxdomain").matches(candidates("inventory2.", []))
    assert Rule("d", "*.example.com", "nxdomain").matches(candidates("api.example.com.", []))
    assert not Rule("e", "*.example.com", "nxdomain").matches(candidates("example.com.", []))


def test_newest_matching_rule_decides_and_putting_the_same_rule_keeps_its_counts():
    rules = RuleSet()
    rules.put(Rule("f1", "*", "servfail"))
    newer = rules.put(Rule("f2", "inventory", "nxdomain"))
    assert rules.first_match(["inventory"]).id == "f2"
    assert rules.first_match(["redis"]).id == "f1"
    newer.draw()
    assert rules.put(Rule("f2", "inventory", "nxdomain")).counts() == {"matched": 1, "faulted": 1}
    assert rules.remove("f2") is newer and rules.remove("f2") is None


def test_probability_draws_are_seeded_and_counted():
    def draws(seed):
        rule = Rule("f1", "inventory", "nxdomain", probability=0.3, seed=seed)
        return [rule.draw() for _ in range(1000)], rule.counts()

    first, counts = draws(rule_seed(42, "f1"))
    assert draws(rule_seed(42, "f1"))[0] == first
    assert draws(rule_seed(43, "f1"))[0] != first
    assert counts["matched"] == 1000 and counts["faulted"] == sum(first)
    assert 230 < counts["faulted"] < 370  # 30 % of 1000, far outside binomial noise otherwise


def test_an_address_rule_needs_an_address():
    with pytest.raises(ValueError, match="not an IPv4"):
        Rule("f1", "inventory", "address", address="inventory")
    assert rule_of("f1", {"name": "x", "action": "address", "address": "127.0.0.1", "seed": 5})["seed"] == 5


def test_the_client_resolv_conf_keeps_docker_search_and_options():
    written = "search corp.example\nnameserver 127.0.0.11\noptions ndots:0 timeout:2\n"
    assert client_resolv_conf(written, "172.20.0.5") == \
        "nameserver 172.20.0.5\nsearch corp.example\noptions ndots:0 timeout:2\n"


@pytest.mark.parametrize("params, words", [
    ({"name": "inventory", "action": "nxdomain"}, "lookups of inventory: NXDOMAIN"),
    ({"name": "inventory", "action": "timeout", "probability": 0.3}, "lookups of inventory: no answer, on 30% of queries"),
    ({"name": "*.x", "action": "delay", "delay_s": 2.0}, "lookups of *.x: 2 s late"),
    ({"name": "inventory", "action": "address", "address_of": "redis"}, "lookups of inventory: answered the address of redis"),
    ({"name": "inventory", "action": "address", "address_of": "redis", "address": "10.0.0.3"},
     "lookups of inventory: answered 10.0.0.3"),
])
def test_settings_read_as_written(params, words):
    assert fault_settings("dns", params) == words
