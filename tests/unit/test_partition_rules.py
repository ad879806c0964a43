"""Partition rules as a pure function: given groups and addresses, which iptables commands run where."""

from __future__ import annotations

import textwrap

import pytest
from support.fault_experiments import fault_problems, load_faults

from chaos.faults.partition import (
    ChainRules,
    Network,
    apply_script,
    chain_name,
    chain_rules,
    cut_pairs,
    heal_script,
    restore_lines,
    tidy_script,
)
from chaos.plan import make_plan

SERVICES = ["api", "redis", "inventory"]
# api reaches redis through proxy .9; inventory reaches api through proxy .8
NETWORK = Network({"api": "10.0.0.2", "redis": "10.0.0.3", "inventory": "10.0.0.4"},
                  (("api", "redis", "10.0.0.9"), ("inventory", "api", "10.0.0.8")))


def params(**given) -> dict:
    return {"groups": {}, "isolate": [], "bridge": [], "direction": "both", **given}


def test_two_way_groups_drop_the_peer_and_the_link_proxy_both_ways_on_both_sides():
    rules = chain_rules(params(groups={"1": ["api"], "2": ["redis"]}), SERVICES, NETWORK)
    assert rules == {"api": ChainRules(["10.0.0.3", "10.0.0.9"], ["10.0.0.3", "10.0.0.9"]),
                     "redis": ChainRules(["10.0.0.2", "10.0.0.9"], ["10.0.0.2", "10.0.0.9"])}


def test_a_link_in_the_other_direction_is_a_route_too():
    rules = chain_rules(params(groups={"1": ["inventory"], "2": ["api"]}), SERVICES, NETWORK)
    assert rules["api"].drop_to == ["10.0.0.4", "10.0.0.8"]  # api answers inventory through proxy .8
    assert rules["inventory"].drop_to == ["10.0.0.2", "10.0.0.8"]


def test_one_way_drops_only_on_the_sending_side_and_only_outgoing():
    rules = chain_rules(params(groups={"1": ["api"], "2": ["redis"]}, direction="one-way"), SERVICES, NETWORK)
    assert rules == {"api": ChainRules(["10.0.0.3", "10.0.0.9"], [])}


def test_isolate_cuts_one_target_from_every_other():
    assert sorted(cut_pairs(params(isolate=["inventory"]), SERVICES)) == [
        ("api", "inventory"), ("inventory", "api"), ("inventory", "redis"), ("redis", "inventory")]
    rules = chain_rules(params(isolate=["inventory"]), SERVICES, NETWORK)
    assert rules["inventory"].drop_to == ["10.0.0.2", "10.0.0.8", "10.0.0.3"]
    assert rules["redis"].drop_to == ["10.0.0.4"]  # no link between redis and inventory


def test_named_groups_keep_their_members_together():
    pairs = cut_pairs(params(groups={"left": ["api", "inventory"], "right": ["redis"]}), SERVICES)
    assert ("api", "inventory") not in pairs and ("inventory", "api") not in pairs
    assert sorted(pairs) == [("api", "redis"), ("inventory", "redis"), ("redis", "api"), ("redis", "inventory")]


def test_a_bridge_is_in_no_pair_and_gets_no_chain():
    p = params(groups={"1": ["inventory"], "2": ["redis"]}, bridge=["api"])
    assert sorted(cut_pairs(p, SERVICES)) == [("inventory", "redis"), ("redis", "inventory")]
    assert set(chain_rules(p, SERVICES, NETWORK)) == {"inventory", "redis"}


def test_unlisted_targets_are_untouched():
    assert set(chain_rules(params(groups={"1": ["api"], "2": ["redis"]}), SERVICES, NETWORK)) == {"api", "redis"}


def test_chain_names_are_short_unique_and_stable():
    name = chain_name("20261127T220500-9212", "f1")
    assert name.startswith("CHAOS-") and len(name) <= 28
    assert name == chain_name("20261127T220500-9212", "f1")
    assert len({chain_name(run, fault) for run in ("r1", "r2") for fault in ("f1", "f1.2", "f2")}) == 6


def test_the_chain_in_restore_format_is_declared_then_filled():
    assert restore_lines("CHAOS-abcd1234", ChainRules(["10.0.0.3"], ["10.0.0.4"])) == [
        ":CHAOS-abcd1234 - [0:0]",
        "-A CHAOS-abcd1234 -d 10.0.0.3/32 -j DROP",
        "-A CHAOS-abcd1234 -s 10.0.0.4/32 -j DROP",
    ]


def test_apply_builds_an_owned_chain_and_jumps_to_it_first_in_one_restore():
    script = apply_script("CHAOS-abcd1234", ChainRules(["10.0.0.3"], ["10.0.0.3"]))
    assert script.after == ""
    fresh, _, careful = script.now.partition("then\n")
    assert fresh == textwrap.dedent("""\
        if ! { iptables-restore -w 5 --noflush <<'RULES'
        *filter
        -N CHAOS-abcd1234
        -A CHAOS-abcd1234 -d 10.0.0.3/32 -j DROP
        -A CHAOS-abcd1234 -s 10.0.0.3/32 -j DROP
        -I INPUT 1 -j CHAOS-abcd1234
        -I OUTPUT 1 -j CHAOS-abcd1234
        COMMIT
        RULES
        } 2>/dev/null; """)
    # Where the chain exists (-N failed): refilled, and a jump inserted only where iptables-save shows none.
    assert ":CHAOS-abcd1234 - [0:0]" in careful and careful.count("| iptables-restore -w 5 --noflush") == 1
    assert 'case "$present" in *"-A INPUT -j CHAOS-abcd1234"*) ;; *) echo "-I INPUT 1 -j CHAOS-abcd1234" ;; esac' \
        in careful


def test_heal_only_adds_a_return_then_tidies_after_the_answer():
    script = heal_script("CHAOS-abcd1234")
    assert script.now.startswith(textwrap.dedent("""\
        if ! { iptables-restore -w 5 --noflush <<'RULES'
        *filter
        -I CHAOS-abcd1234 1 -j RETURN
        COMMIT
        RULES
        } 2>/dev/null; then
        """))
    assert script.after == tidy_script("CHAOS-abcd1234")
    assert tidy_script("CHAOS-abcd1234") in script.now  # no chain to return from: tidy (find nothing) at once


def test_tidy_deletes_every_jump_then_the_chain_and_nothing_else():
    text = tidy_script("CHAOS-abcd1234")
    assert 'case "$saved" in *":CHAOS-abcd1234 "*) ;; *) exit 0 ;; esac' in text  # absent: nothing to do
    assert "grep -x -E -- '-A (INPUT|OUTPUT) -j CHAOS-abcd1234' | sed 's/^-A /-D /'" in text
    assert "echo '-F CHAOS-abcd1234'\necho '-X CHAOS-abcd1234'\necho COMMIT" in text
    assert text.count("CHAOS-") == text.count("CHAOS-abcd1234")  # no other chain is named


# ---- the YAML ----------------------------------------------------------------------------------

BASE = """\
name: p
targets:
  services:
    redis: {image: r}
    inventory: {image: i, clock: skewable}
    api: {image: a}
links: [api -> redis:6379]
load: {locustfile: locustfile.py, target: api:8080}
faults:
"""


def load(tmp_path, faults: str):
    return load_faults(tmp_path, BASE, faults)


def problems(tmp_path, faults: str) -> list[str]:
    return fault_problems(tmp_path, BASE, faults)


@pytest.mark.parametrize("yaml_text, target, expected", [
    ("groups: [[api], [redis]]", "api | redis",
     {"groups": {"1": ["api"], "2": ["redis"]}, "isolate": [], "bridge": [], "direction": "both"}),
    ("groups: [[api], [redis]]\n  direction: one-way", "api -/-> redis",
     {"groups": {"1": ["api"], "2": ["redis"]}, "isolate": [], "bridge": [], "direction": "one-way"}),
    ("isolate: inventory", "isolate inventory",
     {"groups": {}, "isolate": ["inventory"], "bridge": [], "direction": "both"}),
    ("groups: {left: [api, inventory], right: [redis]}", "api, inventory | redis",
     {"groups": {"left": ["api", "inventory"], "right": ["redis"]}, "isolate": [], "bridge": [], "direction": "both"}),
    ("groups: [[inventory], [redis]]\n  bridge: api", "inventory | redis, bridge api",
     {"groups": {"1": ["inventory"], "2": ["redis"]}, "isolate": [], "bridge": ["api"], "direction": "both"}),
])
def test_partition_shapes_plan_to_params(tmp_path, yaml_text, target, expected):
    plan = make_plan(load(tmp_path, f"- type: partition\n  {yaml_text}\n  duration: 2s\n"))
    fault = plan.faults[0]
    assert (fault.family, fault.kind, fault.target, fault.params) == ("partition", "partition", target, expected)


def test_partition_problems_name_the_line_and_field(tmp_path):
    found = problems(tmp_path, """\
        - type: partition
          groups: {left: [api], right: [redsi]}
          duration: 2s
        - type: partition
          groups: [[api], [redis], [inventory]]
          direction: one-way
          duration: 2s
        - type: partition
          groups: [[api], [api, redis]]
          duration: 2s
        - type: partition
          isolate: [api, redis, inventory]
          duration: 2s
        - type: partition
          groups: [[api], [redis]]
          isolate: api
          duration: 2s
        """)
    assert found == [
        f"{tmp_path}/exp.yaml:15:5: faults[1].direction: one-way needs exactly two groups: packets from the first "
        "to the second are dropped",
        f"{tmp_path}/exp.yaml:18:22: faults[2].groups[1][0]: 'api' is named twice: a service belongs to one group "
        "(a bridge to none)",
        f"{tmp_path}/exp.yaml:23:5: faults[4]: give either groups (targets cut from each other) or isolate (targets "
        "cut from all others)",
        f"{tmp_path}/exp.yaml:11:35: faults[0].groups.right[0]: 'redsi' is not a service of this experiment "
        "(did you mean 'redis'?)",
        f"{tmp_path}/exp.yaml:21:5: faults[3].isolate: isolates every service: nobody is left on the other side",
    ]


def test_a_finished_one_shot_job_and_an_attached_container_are_never_partitioned():
    """A migration that others wait on to complete has exited: it has no network to cut, and an isolate's
    "every other target" must not ask for its address (the notes sample's migrate job did)."""
    from types import SimpleNamespace

    from chaos.faults.partition import started_containers

    def target(name, depends_on=None):
        return SimpleNamespace(name=name, depends_on=depends_on or {})

    plan = SimpleNamespace(targets=[target("db"), target("migrate", {"db": "service_healthy"}),
                                    target("app", {"db": "service_healthy",
                                                   "migrate": "service_completed_successfully"}),
                                    target("cache")])
    system = SimpleNamespace(plan=plan, containers={"db": "c1", "migrate": "c2", "app": "c3", "cache": "c4"},
                             attached={"cache": ("net", "10.0.0.9")})
    assert started_containers(system) == {"db": "c1", "app": "c3"}


def test_keepers_go_only_where_a_partition_of_the_plan_puts_a_chain():
    from chaos.faults.partition import namespaces_cut
    from chaos.plan import FaultPlan

    def fault(**given):
        return FaultPlan("f1", "f1", "partition", "partition", "x", params(**given), 0.0, 1.0)

    containers = {"api": "id-api", "redis": "id-redis", "inventory": "id-inventory", "spare": "id-spare"}
    one_way = fault(groups={"a": ["api"], "b": ["redis"]}, direction="one-way")
    assert namespaces_cut([one_way], containers) == ["id-api"]  # the sending side only
    two_way = fault(groups={"a": ["api"], "b": ["redis"]})
    assert namespaces_cut([two_way], containers) == ["id-api", "id-redis"]
    assert namespaces_cut([fault(isolate=["inventory"])], containers) == list(containers.values())
    latency = FaultPlan("f2", "f2", "latency", "link", "x", {}, 0.0, 1.0)
    assert namespaces_cut([latency], containers) == []
