"""Where a user reaches a link from the host: what the journal's `link_created` records for their own clients."""

from __future__ import annotations

from chaos.plan import LinkPlan
from chaos.system import LinkProxy


def test_a_link_is_found_by_its_toxiproxy_api_and_an_edge_link_by_its_listener_too():
    inner = LinkProxy(LinkPlan.parse("api -> redis:6379"), "c1", "172.18.0.3",
                      "http://127.0.0.1:32001", client=None)
    edge = LinkProxy(LinkPlan.parse("load -> api:8080"), "c2", "172.18.0.4",
                     "http://127.0.0.1:32002", client=None, edge_port=32003)
    assert inner.where() == {"api": "http://127.0.0.1:32001"}
    assert edge.where() == {"api": "http://127.0.0.1:32002", "edge": "127.0.0.1:32003"}
