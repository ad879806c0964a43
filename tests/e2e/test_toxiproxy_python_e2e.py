"""A user's own Toxiproxy client (the `toxiproxy-python` package) drives a link of a running experiment: it
finds the link's Toxiproxy API where the harness says it is (the journal's `link_created`, and a line of
`chaos run`'s output), lists the run's proxy, adds a toxic whose effect is measured through the link, and
removes it; the run goes on and cleans up as usual."""

from __future__ import annotations

import re
import statistics
import time
import urllib.request
from pathlib import Path

import pytest
from support.e2e import assert_every_fault_reverted, chaos_command, finish, journal
from support.from_outside import assert_nothing_left
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

EXPERIMENT = """\
name: e2e-toxiproxy-python
targets:
  services:
    web:
      image: chaos-base:bookworm
      command: [python3, -m, http.server, "8000"]
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"]
        interval: 200ms
        retries: 50
load:
  scenario:
    - {path: /, name: "GET /"}
  target: web:8000
  users: 2
phases: {warmup: 1s, baseline: 8s, recovery: 1s}
faults:
  - {type: latency, link: "load -> web:8000", latency: 50ms, duration: 2s}
steady_state:
  - {name: answers, metric: latency.p50, max: 5s, phases: [baseline]}
"""


def links_of_running_run(reports: Path, timeout: float = 90.0) -> tuple[Path, dict[str, dict]]:
    """The run's directory and its journaled links (name -> link_created), once its load has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in reports.glob("*/*/journal.jsonl"):
            events = journal(path.parent)
            if not path.parent.is_symlink() and any(e["event"] == "load_started" for e in events):
                return path.parent, {e["link"]: e for e in events if e["event"] == "link_created"}
        time.sleep(0.1)
    raise AssertionError(f"no run started its load within {timeout}s")


def median_get_ms(edge: str, count: int = 7) -> float:
    times = []
    for _ in range(count):
        started = time.monotonic()
        with urllib.request.urlopen(f"http://{edge}/", timeout=10) as response:
            response.read()
        times.append((time.monotonic() - started) * 1000)
    return statistics.median(times)


@pytest.fixture
def toxiproxy_python(monkeypatch):
    """The package keeps its server's host and port on a class (one server per process): put them back after."""
    monkeypatch.setattr(APIConsumer, "host", APIConsumer.host)
    monkeypatch.setattr(APIConsumer, "port", APIConsumer.port)
    return Toxiproxy()


def test_toxiproxy_python_drives_a_link_of_a_running_experiment(tmp_path, docker_client, toxiproxy_python):
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT)
    process = chaos_command("run", "experiment.yaml", "--report-dir", "reports", cwd=tmp_path)
    try:
        run_dir, links = links_of_running_run(tmp_path / "reports")
        link = links["load -> web:8000"]
        api = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", link["api"])
        assert api, link
        toxiproxy_python.update_api_consumer("127.0.0.1", int(api.group(1)))
        proxies = toxiproxy_python.proxies()
        assert list(proxies) == [link["proxy"]]
        proxy = proxies[link["proxy"]]
        assert proxy.enabled and proxy.upstream == "web:8000", vars(proxy)

        before = median_get_ms(link["edge"])
        proxy.add_toxic(name="users-own", type="latency", attributes={"latency": 300})
        try:
            assert set(proxy.toxics()) == {"users-own"}
            slowed = median_get_ms(link["edge"])
        finally:
            proxy.destroy_toxic("users-own")
        assert proxy.toxics() == {}
        after = median_get_ms(link["edge"])
    finally:
        code, output = finish(process)
    print(f"toxiproxy-python: latency 300 ms added {slowed - before:.0f} ms (before {before:.0f}, after {after:.0f})")
    assert abs(slowed - before - 300) <= 0.2 * 300, (before, slowed)
    assert after - before < 100, (before, after)
    assert code in (0, 1), output  # the run's verdict is not the point; it ran to its end
    assert f"link load -> web:8000: toxiproxy API {link['api']}" in output
    assert_every_fault_reverted(journal(run_dir))
    assert_nothing_left(docker_client, run_dir)
