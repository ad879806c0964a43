"""Clock skew against the real engine, on the shop's inventory: its wall clock (seen by an exec and by
its own reservations) moves with the fault while sleeps and the monotonic clock keep working, and
revert puts it back. Programs libfaketime cannot reach are refused before anything starts."""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.request

import docker.errors
import pytest

from chaos.errors import EnvironmentProblem
from chaos.faults import build
from chaos.faults.clock import refuse_unskewable
from chaos.images import TOXIPROXY_IMAGE
from chaos.plan import FaultPlan
from chaos.system import System

SHOP = """\
name: clock-test
targets:
  services:
    redis:
      image: chaos-shop-redis:1
      healthcheck: {test: [CMD, redis-cli, ping], interval: 200ms, retries: 50}
    inventory:
      image: chaos-shop-inventory:1
      clock: skewable
      environment: {REDIS_HOST: redis, RESERVATION_TTL_S: "30"}
      depends_on: {redis: {condition: service_healthy}}
      ports: ["127.0.0.1::8081"]
      healthcheck:
        test: [CMD, python3, -c, "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/health', timeout=1)"]
        interval: 300ms
        retries: 60
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: inventory:8081
"""

# Wall clock, then the monotonic and wall time a sleep and an Event wait took (bookworm's own
# libfaketime broke exactly these).
CLOCKS = ("import threading, time; w = time.time(); m = time.monotonic(); time.sleep(0.2); "
          "threading.Event().wait(0.2); print(w, time.monotonic() - m, time.time() - w)")


@pytest.fixture(scope="module")
def shop(docker_client, make_shared_plan, leftovers):
    plan = make_shared_plan(SHOP)
    system = System(plan, docker_client)
    try:
        refuse_unskewable(system)
        system.up(health_timeout=60)
        yield system
    finally:
        system.down()
        assert leftovers(docker_client, plan.run_id) == []


def skew_fault(fault_id: str, **params) -> FaultPlan:
    return FaultPlan(fault_id, fault_id, "clock_skew", "clock", "inventory", params, 0.0, 1.0)


def clocks_inside(system: System) -> tuple[float, float, float]:
    """(skew of the wall clock against the host's, monotonic elapsed, wall elapsed) seen by a new process."""
    container = system.client.containers.get(system.containers["inventory"])
    before = time.time()
    code, output = container.exec_run(["python3", "-c", CLOCKS])
    assert code == 0, output
    wall, mono_elapsed, wall_elapsed = (float(x) for x in output.split())
    return wall - before, mono_elapsed, wall_elapsed


def reservation_clock(system: System) -> tuple[float, float]:
    """The running service's own clock: a reservation's expiry minus the TTL, and its `now`, each
    against the host clock."""
    base = f"http://127.0.0.1:{system.published('inventory', 8081)}"
    request = urllib.request.Request(f"{base}/reservations", data=json.dumps({"product_id": 1, "qty": 1}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    sent = time.time()
    with urllib.request.urlopen(request, timeout=5) as response:
        created = json.loads(response.read())
    with urllib.request.urlopen(f"{base}/reservations/{created['reservation_id']}", timeout=5) as response:
        seen = json.loads(response.read())
    return created["expires_at"] - 30 - sent, seen["now"] - time.time()


def test_offset_moves_the_wall_clock_only_and_revert_restores_it(shop):
    skew, _, _ = clocks_inside(shop)
    assert abs(skew) < 1.5, skew  # preloaded, at +0 until a fault
    fault = build(skew_fault("c1", mode="offset", offset_s=30.0), shop)
    fault.inject()
    fault.inject()  # idempotent
    try:
        skew, mono_elapsed, wall_elapsed = clocks_inside(shop)
        expiry_skew, now_skew = reservation_clock(shop)
    finally:
        fault.revert()
    assert 28.5 < skew < 31.5, skew
    assert 0.38 < mono_elapsed < 3 and 0.38 < wall_elapsed < 3, (mono_elapsed, wall_elapsed)
    assert 28.5 < expiry_skew < 31.5 and 28.5 < now_skew < 31.5, (expiry_skew, now_skew)  # the running service
    fault.revert()  # idempotent
    skew, _, _ = clocks_inside(shop)
    expiry_skew, now_skew = reservation_clock(shop)
    assert abs(skew) < 1.5 and abs(expiry_skew) < 1.5 and abs(now_skew) < 1.5, (skew, expiry_skew, now_skew)


def test_negative_offset(shop):
    fault = build(skew_fault("c2", mode="offset", offset_s=-5.0), shop)
    fault.inject()
    try:
        skew, mono_elapsed, _ = clocks_inside(shop)
    finally:
        fault.revert()
    assert -6.5 < skew < -3.5, skew
    assert 0.38 < mono_elapsed < 3


def test_strobe_and_drift_follow_their_updates(shop):
    strobe = build(skew_fault("c3", mode="strobe", delta_s=20.0, period_s=1.0), shop)
    strobe.inject()
    try:
        ahead, _, _ = clocks_inside(shop)
        strobe.update({"offset_s": -20.0})
        behind, _, _ = clocks_inside(shop)
    finally:
        strobe.revert()
    assert 18.5 < ahead < 21.5 and -21.5 < behind < -18.5, (ahead, behind)
    drift = build(skew_fault("c4", mode="drift", rate=2.0), shop)
    drift.inject()
    try:
        start, _, _ = clocks_inside(shop)
        drift.update({"offset_s": 10.0})  # what rate 2 has accumulated after 10 s
        later, _, _ = clocks_inside(shop)
    finally:
        drift.revert()
    assert abs(start) < 1.5 and 8.5 < later < 11.5, (start, later)
    assert abs(clocks_inside(shop)[0]) < 1.5


# ---- refusals --------------------------------------------------------------------------------

REFUSED = """\
name: clock-refusals
targets:
  services:
    gone:
      image: @IMAGE@
      clock: skewable
load:
  locustfile: @REPO@/targets/shop/locustfile.py
  target: gone:80
"""


def fake_elf(interpreter: bytes | None) -> bytes:
    """The smallest ELF64 file with one PT_INTERP segment (or none): enough for the loader check."""
    import struct

    header_size, segment_size = 64, 56
    body = (interpreter or b"") + b"\0"
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x400000, header_size, 0, 0, header_size,
                                 segment_size, 1 if interpreter else 0, 64, 0, 0)
    segment = struct.pack("<IIQQQQQQ", 3, 4, header_size + segment_size, 0, 0, len(body), len(body), 1)
    return header + (segment + body if interpreter else b"")


@pytest.fixture
def imported_image(docker_client):
    """Images made here from a tar (no registry): removed afterwards."""
    made = []

    def make(tag: str, files: dict[str, bytes], symlinks: dict[str, str], entrypoint: str) -> str:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(name.lstrip("/"))
                info.size, info.mode = len(data), 0o755
                archive.addfile(info, io.BytesIO(data))
            for name, target in symlinks.items():
                info = tarfile.TarInfo(name.lstrip("/"))
                info.type, info.linkname = tarfile.SYMTYPE, target
                archive.addfile(info)
        docker_client.api.import_image_from_data(buffer.getvalue(), repository=tag.split(":")[0],
                                                 tag=tag.split(":")[1], changes=[f'ENTRYPOINT ["{entrypoint}"]'])
        made.append(tag)
        return tag

    yield make
    for tag in made:
        try:
            docker_client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.mark.parametrize("image, program, reason", [
    ("static", fake_elf(None), "statically linked"),
    ("musl", fake_elf(b"/lib/ld-musl-x86_64.so.1"), "musl"),
])
def test_programs_libfaketime_cannot_reach_are_refused_before_start(docker_client, make_test_plan, imported_image,
                                                                    image, program, reason, leftovers):
    tag = imported_image(f"chaos-test-unskewable-{image}:1", {"/opt/app/server": program},
                         {"/usr/local/bin/server": "../../../opt/app/server"}, "server")
    plan = make_test_plan(REFUSED.replace("@IMAGE@", tag))
    with pytest.raises(EnvironmentProblem) as refused:
        refuse_unskewable(System(plan, docker_client))
    assert "service gone" in str(refused.value) and reason in str(refused.value)
    assert "/opt/app/server" in str(refused.value), "the link was followed to the real program"
    assert leftovers(docker_client, plan.run_id) == []


def test_go_program_is_refused(docker_client, make_test_plan, leftovers):
    plan = make_test_plan(REFUSED.replace("@IMAGE@", TOXIPROXY_IMAGE))
    with pytest.raises(EnvironmentProblem, match="Go program"):
        refuse_unskewable(System(plan, docker_client))
    assert leftovers(docker_client, plan.run_id) == []


def test_a_script_is_followed_to_its_interpreter(docker_client, make_test_plan, leftovers):
    plan = make_test_plan(REFUSED.replace("@IMAGE@", "chaos-base:bookworm").replace(
        "      clock: skewable", "      clock: skewable\n      command: [pydoc3, --help]"))
    refuse_unskewable(System(plan, docker_client))  # /usr/bin/pydoc3 is `#!/usr/bin/python3...`: dynamic glibc
    assert leftovers(docker_client, plan.run_id) == []


def test_a_target_that_drops_the_preload_is_caught_after_start(docker_client, make_test_plan, leftovers):
    text = REFUSED.replace("@IMAGE@", "chaos-base:bookworm").replace(
        "      clock: skewable", '      clock: skewable\n      command: [sh, -c, "unset LD_PRELOAD; exec sleep 60"]')
    plan = make_test_plan(text)
    system = System(plan, docker_client)
    try:
        refuse_unskewable(system)  # sh is dynamic glibc: the file alone looks fine
        with pytest.raises(EnvironmentProblem, match="libfaketime is not loaded in gone"):
            system.up(health_timeout=30)
    finally:
        system.down()
    assert leftovers(docker_client, plan.run_id) == []


def test_a_skew_rebuilt_from_its_ledger_entry_is_reset(shop):
    from chaos.faults.clock import from_ledger

    plan = skew_fault("c5", mode="offset", offset_s=40.0)
    build(plan, shop).inject()
    assert 38.5 < clocks_inside(shop)[0] < 41.5
    from_ledger(plan, shop.client, shop.plan.run_id).revert()  # what `chaos clean` does after SIGKILL
    assert abs(clocks_inside(shop)[0]) < 1.5
