"""`with chaos.dns(...)` in a real pytest session (pytester, subprocess) against the real engine: a system
started with `dns=["web"]` has web's lookups faulted inside the block and answered as before after it; a
service not started that way is refused with the way to fix it. Nothing of the system is left."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

EXPERIMENT = f"""\
name: dns-fixture
targets:
  services:
    web: {{image: chaos-base:bookworm, command: [sleep, infinity]}}
    other: {{image: chaos-base:bookworm, command: [sleep, infinity]}}
load:
  locustfile: {REPO / "targets" / "shop" / "locustfile.py"}
  target: other:8080
"""

CONFTEST = """
import pytest
from chaos.testkit import SystemSpec


@pytest.fixture(scope="session")
def chaos_system_spec():
    return SystemSpec.from_experiment("experiment.yaml", dns=["web"])
"""

TESTS = '''
import pytest
from chaos.testkit import UsageProblem

LOOKUP = ("import socket, sys\\n"
          "try:\\n"
          "    print(socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET)[0][4][0])\\n"
          "except socket.gaierror as exc:\\n"
          "    print('error', exc.args[0])\\n")


def lookup(chaos_system, service, name):
    system = chaos_system.system
    code, output = system.client.containers.get(system.containers[service]).exec_run(["python3", "-c", LOOKUP, name])
    assert code == 0, output
    return output.decode().strip()


def test_dns_block(chaos, chaos_system):
    before = lookup(chaos_system, "web", "other")
    assert before.count(".") == 3, before
    with chaos.dns("web", "other", "nxdomain"):
        assert lookup(chaos_system, "web", "other") == "error -2"
        assert lookup(chaos_system, "other", "other") == before
    assert lookup(chaos_system, "web", "other") == before
    with chaos.dns("web", "oth*", "127.0.0.1", probability="100%"):
        assert lookup(chaos_system, "web", "other") == "127.0.0.1"
    assert lookup(chaos_system, "web", "other") == before


def test_a_service_without_a_dns_server_is_refused(chaos):
    with pytest.raises(UsageProblem, match="dns=\\\\[\\'other\\'\\\\]"):
        chaos.dns("other", "web", "nxdomain")
'''


def test_chaos_dns_in_a_pytest_session(pytester, docker_client):
    pytester.makefile(".yaml", experiment=EXPERIMENT)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_dns=TESTS)
    before = {c.id for c in docker_client.containers.list(all=True, filters={"label": "chaos.role=dns"})}
    result = pytester.runpytest_subprocess("-p", "chaos", "-q", timeout=240)
    result.assert_outcomes(passed=2)
    after = {c.id for c in docker_client.containers.list(all=True, filters={"label": "chaos.role=dns"})}
    assert after <= before, "the system's DNS server is removed with it"
