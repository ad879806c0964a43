"""http faults (issue #18): the forms that must validate, bad input as FILE:LINE: field: message, and the
rules the link's proxy applies (matching, seeded probability, first/every, order, ramps). Pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.fault_experiments import fault_problems, load_faults, shop_head, write_experiment

from chaos.cli import main
from chaos.faults.http import hits_by_route, rule_of
from chaos.httpproxy.rules import Match, Rule, RuleSet, corrupt_bytes, draw
from chaos.plan import make_plan, make_system_plan
from chaos.spec import load_compose

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]

HEAD = shop_head("http", """\
    redis: {image: chaos-shop-redis:1}
    inventory: {image: chaos-shop-inventory:1}
    api: {image: chaos-shop-api:v1}
""").replace("  - api -> redis:6379\n", "  - api -> redis:6379\n  - {link: api -> inventory:8081, protocol: http}\n")

ISSUE_FORMS = """\
- {type: http, link: api -> inventory:8081, match: {method: GET, path: "/stock/*"}, status: 503, probability: 20%, at: 0s, duration: 20s}
- {type: http, link: api -> inventory:8081, match: {path: /reservations}, abort: reset, first: 5}
- {type: http, link: api -> inventory:8081, delay: 300ms, probability: 50%}
"""


def test_the_issues_forms_validate_and_plan_as_rules(tmp_path):
    plan = make_plan(load_faults(tmp_path, HEAD, ISSUE_FORMS), run_id="r", seed=42)
    http_link = next(link for link in plan.links if link.name == "api -> inventory:8081")
    assert http_link.protocol == "http" and not next(l for l in plan.links if l.name == "api -> redis:6379").is_http
    rules = [rule_of(fault) for fault in plan.faults]
    assert [(r.id, r.order, r.seed) for r in rules] == [("f1", 0, 42), ("f2", 1, 42), ("f3", 2, 42)]
    assert (rules[0].status, rules[0].probability, rules[0].match) == (503, 0.2, Match("GET", "/stock/*"))
    assert (rules[1].abort, rules[1].first, rules[1].match.path) == ("reset", 5, "/reservations")
    assert (rules[2].action, rules[2].delay_ms) == ("delay", 300.0)
    assert [f.duration for f in plan.faults] == [20.0, 20.0, 20.0]  # no duration: the default 20 s
    assert all(f.link == "api -> inventory:8081" for f in plan.faults)


@pytest.mark.parametrize("fault, where, message", [
    ("{type: http, link: api -> inventory:8081, match: {path_regex: '^/stock/(['}, status: 503}",
     "faults[0].match.path_regex", "is not a regular expression"),
    ("{type: http, link: api -> inventory:8081, status: 700}", "faults[0].status", "700 is not an HTTP status (100..599)"),
    ("{type: http, link: api -> inventory:8081, status: 503, probability: 150%}", "faults[0].probability",
     "outside 0..100%"),
    ("{type: http, link: api -> redis:6379, status: 503}", "faults[0].link", "does not carry HTTP (listed as a TCP link)"),
    ("{type: http, link: load -> api:8080, status: 503}", "faults[0].link", "does not carry HTTP"),
    ("{type: latency, link: api -> inventory:8081, latency: 300ms, duration: 5s}", "faults[0].link",
     "carries HTTP (its proxy is mitmproxy, not Toxiproxy)"),
    ("{type: http, link: api -> inventory:8081, status: 503, abort: reset}", "faults[0].abort", "one action per fault"),
    ("{type: http, link: api -> inventory:8081, probability: 50%}", "faults[0]", "say what the fault does"),
    ("{type: http, link: api -> inventory:8081, abort: close, body: nope}", "faults[0].body", "go with status"),
    ("{type: http, link: api -> inventory:8081, status: 503, delay: 1s, delay_at: response}", "faults[0].delay_at",
     "use delay_at: request"),
    ("{type: http, link: api -> inventory:8081, abort: explode}", "faults[0].abort", "close"),
    ("{type: http, link: api -> inventory:8081, delay: 100ms, ramp: {over: 5s}}", "faults[0].ramp", "say what moves"),
])
def test_bad_input_is_one_line_with_file_line_and_field(tmp_path, fault, where, message):
    problems = fault_problems(tmp_path, HEAD, f"- {fault}\n")
    assert len(problems) == 1, problems
    assert f"exp.yaml:{HEAD.count(chr(10)) + 1}:" in problems[0]
    assert f": {where}: " in problems[0] and message in problems[0], problems[0]


def test_bad_input_exits_2_from_the_cli_and_starts_nothing(tmp_path):
    path = write_experiment(tmp_path, HEAD, "- {type: http, link: api -> inventory:8081, status: 42}\n")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert "faults[0].status: 42 is not an HTTP status (100..599)" in result.output
    assert not (tmp_path / "reports").exists()


def test_the_dry_run_names_the_http_link_and_the_faults_in_words(tmp_path):
    path = write_experiment(tmp_path, HEAD, ISSUE_FORMS)
    result = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "api -> inventory:8081 (http)" in result.output
    assert "status 503, on GET /stock/*, 20% of requests" in result.output
    assert "reset unanswered, on /reservations, first 5" in result.output


# ---- the rules, as the proxy applies them ----------------------------------------------------

def decide(rules: RuleSet, method="GET", path="/stock/1", headers=None, query=None):
    return rules.decide(method, path, headers or {}, query or {})


def test_a_match_needs_every_field_it_gives():
    match = Match("GET", "/stock/*", None, {"X-Tenant": "blue*"}, {"full": "1"})
    assert match.matches("get", "/stock/7", {"x-tenant": "blue-2"}, {"full": "1"})
    assert not match.matches("POST", "/stock/7", {"x-tenant": "blue-2"}, {"full": "1"})
    assert not match.matches("GET", "/reservations", {"x-tenant": "blue-2"}, {"full": "1"})
    assert not match.matches("GET", "/stock/7", {}, {"full": "1"})
    assert not match.matches("GET", "/stock/7", {"x-tenant": "blue-2"}, {})
    assert Match(path_regex=r"^/stock/[0-9]+$").matches("GET", "/stock/12", {}, {})
    assert not Match(path_regex=r"^/stock/[0-9]+$").matches("GET", "/stock/x", {}, {})
    assert Match().matches("DELETE", "/anything", {}, {})


def test_first_and_every_count_matching_requests_only():
    rules = RuleSet()
    rules.put(Rule("f1", 0, Match(path="/reservations"), abort="reset", first=2))
    picked = [bool(decide(rules, "POST", path).abort) for path in
              ["/stock/1", "/reservations", "/stock/2", "/reservations", "/reservations"]]
    assert picked == [False, True, False, True, False]
    rules = RuleSet()
    rules.put(Rule("f1", 0, status=503, every=3))
    assert [decide(rules).answer is not None for _ in range(7)] == [False, False, True, False, False, True, False]


def test_probability_is_seeded_by_request_index_and_near_its_share():
    def picks(seed):
        rules = RuleSet()
        rules.put(Rule("f1", 0, status=503, probability=0.2, seed=seed))
        return [decide(rules).answer is not None for _ in range(5000)]

    first, again, other = picks(7), picks(7), picks(8)
    assert first == again  # the same seed picks the same requests
    assert first != other
    assert 0.18 < sum(first) / len(first) < 0.22
    assert draw(7, "f1", 3) == draw(7, "f1", 3) and 0 <= draw(7, "f1", 3) < 1


def test_rules_are_checked_in_the_experiments_order_delays_add_and_an_answer_ends_the_checking():
    rules = RuleSet()
    rules.put(Rule("f3", 2, status=500))
    rules.put(Rule("f1", 0, delay_ms=100))
    rules.put(Rule("f2", 1, status=503, delay_ms=50))
    decision = decide(rules)
    assert decision.answer.id == "f2"  # f3 never sees the request
    assert decision.request_delay_s == pytest.approx(0.15)
    assert decision.injected_header() == "f1 delay, f2 status"
    assert rules.counts() == {"f1": 1, "f2": 1, "f3": 0}


def test_touched_requests_are_recorded_and_counted_per_route():
    rules = RuleSet(clock=lambda: 100.0)
    rules.put(Rule("f1", 0, Match(method="GET"), status=503))
    for path in ["/stock/1", "/stock/22", "/health"]:
        decide(rules, "GET", path)
    decide(rules, "POST", "/reservations")
    records, following = rules.records()
    assert following == 3
    assert records[0] == {"t": 100.0, "fault": "f1", "n": 1, "method": "GET", "path": "/stock/1", "action": "status"}
    assert hits_by_route(records) == {"GET /stock/[n]": 2, "GET /health": 1}
    assert rules.records(2) == (records[2:], 3)


def test_a_rule_put_again_keeps_its_count_and_a_removed_one_starts_over():
    rules = RuleSet()
    rules.put(Rule("f1", 0, abort="close", first=1))
    assert decide(rules).abort and not decide(rules).abort
    rules.put(Rule("f1", 0, abort="close", first=1, delay_ms=5))  # a ramp step: still past its first one
    assert not decide(rules).abort
    assert rules.remove("f1") and not rules.remove("f1")  # removing twice is no error
    rules.put(Rule("f1", 0, abort="close", first=1))
    assert decide(rules).abort


def test_response_side_rules_and_mid_body_let_the_request_through():
    rules = RuleSet()
    rules.put(Rule("f1", 0, delay_ms=200, delay_at="response"))
    rules.put(Rule("f2", 1, rewrite=("5", "0")))
    rules.put(Rule("f3", 2, abort="mid_body"))
    decision = decide(rules)
    assert decision.answer is None and decision.request_delay_s == 0
    assert decision.response_delay_s == pytest.approx(0.2)
    assert [rule.id for rule, _ in decision.response_rules] == ["f1", "f2"]
    assert decision.abort.id == "f3"


def test_corruption_changes_the_bytes_it_says_and_is_seeded():
    data = b'{"stock": 5, "product_id": 7}'
    once = corrupt_bytes(data, 3, 1, "f1", 1)
    assert once == corrupt_bytes(data, 3, 1, "f1", 1) and once != data and len(once) == len(data)
    assert 1 <= sum(a != b for a, b in zip(once, data)) <= 3


def test_rules_travel_as_json_unchanged():
    rule = Rule("f2", 1, Match("GET", None, "^/s", {"A": "b"}, {"q": "1"}), status=429, body="slow down",
                headers={"Retry-After": "2"}, probability=0.5, every=2, seed=9, rewrite=("a", "b"))
    assert Rule.from_json(json.loads(json.dumps(rule.to_json()))) == rule


def test_a_ramp_moves_probability_and_delay_in_steps(tmp_path):
    fault = "{type: http, link: api -> inventory:8081, delay: 100ms, probability: 10%, duration: 10s, " \
            "ramp: {probability: 50%, delay: 500ms, over: 4s, step: 1s}}"
    plan = make_plan(load_faults(tmp_path, HEAD, f"- {fault}\n"), run_id="r", seed=1)
    updates = plan.faults[0].updates
    assert [u["after"] for u in updates] == [1.0, 2.0, 3.0, 4.0]
    assert [u["set"]["probability"] for u in updates] == pytest.approx([0.2, 0.3, 0.4, 0.5])
    assert [u["set"]["delay_ms"] for u in updates] == pytest.approx([200, 300, 400, 500])
    ramped = rule_of(plan.faults[0], updates[-1]["set"])
    assert (ramped.probability, ramped.delay_ms, ramped.id) == (0.5, 500, "f1")


# ---- the pytest fixture's side ---------------------------------------------------------------

def test_a_test_system_routes_an_http_link_from_its_spec_or_its_experiment(tmp_path):
    from chaos.testkit import SystemSpec

    shop = REPO / "targets" / "shop" / "compose.yaml"
    resolved = SystemSpec.from_compose(shop, links=["http: api -> inventory:8081", "api -> redis:6379"],
                                       edge="api:8080").resolve(lambda image: [])
    assert resolved.http_links == {"api -> inventory:8081"}
    assert hash(SystemSpec.from_compose(shop, links=["http: api -> inventory:8081"]))  # still a hashable spec
    from_experiment = SystemSpec.from_experiment(REPO / "experiments" / "shop-http-503.yaml").resolve(lambda i: [])
    assert from_experiment.http_links == {"api -> inventory:8081"}
    plan = make_system_plan("shop", resolved.services, resolved.links, http_links=resolved.http_links, run_id="r")
    assert {link.name: link.protocol for link in plan.links}["api -> inventory:8081"] == "http"


def test_chaos_http_makes_the_issues_fault(tmp_path):
    from types import SimpleNamespace

    from chaos.testkit import RunningSystem
    from chaos.testkit.fixture import Chaos

    shop = REPO / "targets" / "shop" / "compose.yaml"
    plan = make_system_plan("shop", load_compose(shop), ["api -> inventory:8081", "load -> api:8080"], run_id="r",
                            http_links={"api -> inventory:8081"})
    proxy = SimpleNamespace(client=None)
    running = RunningSystem(resolved=None, system=SimpleNamespace(plan=plan, client=None, records_dir=None,
                                                                  proxies={"api -> inventory:8081": proxy}), events=[])
    chaos = Chaos.__new__(Chaos)
    chaos.system, chaos.faults = running, []
    context = chaos.http("api", "inventory", status=503, probability="20%", path="/stock/*")
    rule = rule_of(context.plan)
    assert (rule.status, rule.probability, rule.match.path, rule.id, rule.order) == (503, 0.2, "/stock/*", "f1", 0)
