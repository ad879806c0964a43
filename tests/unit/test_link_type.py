"""A link's text: read in one place (Link.parse), written back one way (str), the same in plan.json."""

from __future__ import annotations

import pytest

from chaos.links import EDGE, Link, canonical
from chaos.plan import LinkPlan


@pytest.mark.parametrize("text", ["api -> redis:6379", "api->redis:6379", "  api  ->  redis:6379  "])
def test_a_link_reads_with_any_spacing_and_writes_back_canonically(text):
    link = Link.parse(text)
    assert link == Link("api", "redis", 6379)
    assert str(link) == "api -> redis:6379"
    assert canonical(text) == "api -> redis:6379"


@pytest.mark.parametrize("text", ["api -> redis", "api redis:6379", "api -> redis:port", "api -> redis:123456",
                                  "a/b -> redis:6379", ""])
def test_anything_else_is_refused_with_the_message_users_see(text):
    with pytest.raises(ValueError) as caught:
        Link.parse(text)
    assert str(caught.value) == f"{text!r} is not a link (expected 'from -> to:port', e.g. 'api -> redis:6379')"


def test_the_edge_link_comes_from_the_load_target_and_is_known_as_such():
    edge = Link.edge("api:8080")
    assert str(edge) == f"{EDGE} -> api:8080"
    assert edge.is_edge
    assert not Link.parse("api -> redis:6379").is_edge


def test_a_links_proxy_is_named_from_its_parts():
    assert Link.parse("api -> redis:6379").proxy_name == "api-to-redis-6379"


def test_a_link_plan_is_named_canonically_and_keeps_its_plan_json_fields_in_order():
    plan = LinkPlan.parse("api->redis:6379")
    assert list(vars(plan)) == ["name", "source", "target", "port", "protocol"]
    assert (plan.name, plan.source, plan.target, plan.port) == ("api -> redis:6379", "api", "redis", 6379)
    assert plan.link == Link("api", "redis", 6379)
    assert plan.proxy_name == "api-to-redis-6379"
    assert LinkPlan.parse("load -> api:8080").is_edge
