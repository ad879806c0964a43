"""The HTTP link proxy's rule set: idle means no rule (the addon then skips the request), and a revert reads the
records of its own fault only, from where it asks."""

from __future__ import annotations

import pytest

from chaos.httpproxy.rules import Match, Rule, RuleSet

pytestmark = pytest.mark.unit


def test_a_rule_set_is_empty_until_a_rule_is_put_and_again_once_it_is_removed():
    rules = RuleSet()
    assert rules.empty
    rules.put(Rule("f1", 0, status=503))
    assert not rules.empty
    rules.remove("f1")
    assert rules.empty


def test_records_of_one_fault_are_read_alone_and_in_pieces():
    rules = RuleSet(clock=lambda: 5.0)
    rules.put(Rule("f1", 0, Match(path="/a"), status=503))
    rules.put(Rule("f2", 1, Match(path="/b"), abort="close"))
    for path in ["/a", "/b", "/a", "/b", "/b"]:
        rules.decide("GET", path, {}, {})
    of_f2, following = rules.records(fault="f2")
    assert [r["n"] for r in of_f2] == [1, 2, 3] and {r["fault"] for r in of_f2} == {"f2"} and following == 3
    assert rules.records(2, fault="f2") == (of_f2[2:], 3)
    assert rules.records(3, fault="f2") == ([], 3)
    assert [r["fault"] for r in rules.records()[0]] == ["f1", "f2", "f1", "f2", "f2"]
    assert rules.records(fault="f9") == ([], 0)


def test_a_page_of_records_says_whether_it_reached_the_end():
    rules = RuleSet()
    rules.put(Rule("f1", 0, status=503))
    for _ in range(3):
        rules.decide("GET", "/", {}, {})
    assert rules.records_page(0, "f1", limit=2) == (rules.records(fault="f1")[0][:2], 2, False)
    assert rules.records_page(2, "f1", limit=2)[1:] == (3, True)
    assert rules.records_page(0, "f9") == ([], 0, True)
