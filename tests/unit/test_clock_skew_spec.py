"""Clock skew without Docker: the YAML, the offsets written over time, the preload environment, which
program a container runs, and how an ELF file says whether libfaketime can reach it."""

from __future__ import annotations

import struct

import pytest
from support.fault_experiments import fault_problems, load_faults

from chaos import doctor, elfinfo
from chaos.faults.clock import (
    first_program,
    initial_offset,
    preload_environment,
    search_path,
    timestamp_text,
)
from chaos.plan import make_plan
from chaos.units import parse_clock_rate, parse_signed_duration

BASE = """\
name: c
targets:
  services:
    redis: {image: r}
    inventory: {image: i, clock: skewable}
load: {locustfile: locustfile.py, target: inventory:8081}
faults:
"""


def load(tmp_path, faults: str):
    return load_faults(tmp_path, BASE, faults)


def problems(tmp_path, faults: str) -> list[str]:
    return [problem.replace(f"{tmp_path}/", "") for problem in fault_problems(tmp_path, BASE, faults)]


@pytest.mark.parametrize("value, seconds", [("+30s", 30.0), ("-5s", -5.0), ("-250ms", -0.25), ("2m", 120.0), (-3, -3.0)])
def test_signed_offsets(value, seconds):
    assert parse_signed_duration(value) == seconds


@pytest.mark.parametrize("value, rate", [(1.05, 1.05), ("200ppm", 1.0002), ("-50ppm", 0.99995), ("0.98", 0.98)])
def test_clock_rates(value, rate):
    assert parse_clock_rate(value) == pytest.approx(rate)


@pytest.mark.parametrize("value", ["fast", 0, -1.0, True, "5%"])
def test_bad_clock_rates(value):
    with pytest.raises(ValueError):
        parse_clock_rate(value)


def test_offset_plans_one_write(tmp_path):
    plan = make_plan(load(tmp_path, "- {type: clock_skew, service: inventory, offset: +30s, at: 1s, duration: 4s}\n"))
    fault = plan.faults[0]
    assert (fault.family, fault.target, fault.params, fault.updates) == (
        "clock", "inventory", {"mode": "offset", "offset_s": 30.0}, [])
    assert initial_offset(fault.params) == 30.0


def test_strobe_swings_every_period_until_the_revert(tmp_path):
    plan = make_plan(load(tmp_path, "- {type: clock_skew, service: inventory, strobe: {delta: 2s, period: 1s}, "
                                    "duration: 3.5s}\n"))
    fault = plan.faults[0]
    assert initial_offset(fault.params) == 2.0
    assert fault.updates == [{"after": 1.0, "set": {"offset_s": -2.0}}, {"after": 2.0, "set": {"offset_s": 2.0}},
                             {"after": 3.0, "set": {"offset_s": -2.0}}]


def test_drift_grows_the_offset_stepwise(tmp_path):
    plan = make_plan(load(tmp_path, "- {type: clock_skew, service: inventory, drift: 1.05, duration: 2s}\n"))
    fault = plan.faults[0]
    assert initial_offset(fault.params) == 0.0
    assert fault.updates == [{"after": 0.5, "set": {"offset_s": 0.025}}, {"after": 1.0, "set": {"offset_s": 0.05}},
                             {"after": 1.5, "set": {"offset_s": 0.075}}]
    slow = make_plan(load(tmp_path, "- {type: clock_skew, service: inventory, drift: -100ppm, duration: 1.2s}\n"))
    assert [u["set"]["offset_s"] for u in slow.faults[0].updates] == [-0.00005, -0.0001]


def test_clock_skew_problems_say_what_to_fix(tmp_path):
    found = problems(tmp_path, """\
        - {type: clock_skew, service: redis, offset: +30s, duration: 2s}
        - {type: clock_skew, service: invntory, offset: +30s, duration: 2s}
        - {type: clock_skew, service: inventory, offset: +1s, drift: 1.1, duration: 2s}
        - {type: clock_skew, service: inventory, strobe: {delta: 1s, period: 100ms}, at: 5s, duration: 2s}
        - {type: clock_skew, service: inventory, drift: 1, at: 10s, duration: 2s}
        - {type: clock_skew, service: inventory, offset: -1s, at: 11s, duration: 2s}
        """)
    assert found == [
        "exp.yaml:10:57: faults[2].drift: give exactly one of offset, drift or strobe",
        "exp.yaml:11:64: faults[3].strobe.period: must be at least 250ms",
        "exp.yaml:12:44: faults[4].drift: a rate of 1 changes nothing (e.g. 1.05 runs 5 % fast, 200ppm 0.02 % fast)",
        "exp.yaml:8:24: faults[0].service: service 'redis' is not declared skewable: add `clock: skewable` to its "
        "definition (the harness must start it with libfaketime preloaded; only glibc-linked, dynamically linked "
        "programs can be skewed)",
        "exp.yaml:9:24: faults[1].service: 'invntory' is not a service of this experiment (did you mean 'inventory'?)",
        "exp.yaml:13:57: faults[5].at: overlaps another clock skew of 'inventory': a service has one clock",
    ]


def test_timestamp_file_holds_a_plain_signed_offset():
    assert timestamp_text(30) == "+30.000000\n"
    assert timestamp_text(-0.25) == "-0.250000\n"
    assert timestamp_text(0) == "+0.000000\n"
    assert all(c not in timestamp_text(12.5) for c in "xidmhy")  # libfaketime's modifiers: never written


def test_preload_environment_names_the_service_file_and_keeps_monotonic_real():
    assert preload_environment("inventory") == {
        "LD_PRELOAD": "/chaos-faketime/libfaketime.so.1",
        "FAKETIME_TIMESTAMP_FILE": "/chaos-faketime/inventory.ts",
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


@pytest.mark.parametrize("entrypoint, command, config, program", [
    (None, None, {"Cmd": ["python3", "/app/inventory.py"]}, "python3"),
    (None, None, {"Entrypoint": ["/toxiproxy"], "Cmd": ["-host=0.0.0.0"]}, "/toxiproxy"),
    (None, ["redis-server", "--save", ""], {"Entrypoint": None, "Cmd": ["bash"]}, "redis-server"),
    (["/bin/sh", "-c"], None, {"Entrypoint": ["/tini"], "Cmd": ["x"]}, "/bin/sh"),
    (None, "python3 -m http.server", {"Cmd": ["bash"]}, "python3"),
    (None, None, {}, None),
])
def test_the_program_a_container_execs_follows_docker_rules(entrypoint, command, config, program):
    assert first_program(entrypoint, command, config) == program


def test_search_path_prefers_the_experiment_then_the_image():
    assert search_path({"PATH": "/opt/bin:/bin"}, ["PATH=/usr/bin"]) == ["/opt/bin", "/bin"]
    assert search_path({}, ["LANG=C", "PATH=/usr/bin:/bin"]) == ["/usr/bin", "/bin"]
    assert search_path({}, None)[:2] == ["/usr/local/sbin", "/usr/local/bin"]


# ---- ELF -------------------------------------------------------------------------------------


def elf(interpreter: bytes | None = None, machine: int = 62, go_note: bool = False, bits: int = 64) -> bytes:
    """A minimal ELF file: header, program headers (PT_INTERP, PT_NOTE as asked), their contents."""
    segments = []
    if interpreter:
        segments.append((3, interpreter + b"\0"))
    if go_note:
        segments.append((4, struct.pack("<III", 3, 4, 4) + b"Go\0\0" + b"abcd"))
    if bits == 64:
        header_size, entry_size = 64, 56
    else:
        header_size, entry_size = 52, 32
    offset = header_size + entry_size * len(segments)
    table, payload = b"", b""
    for kind, content in segments:
        at = offset + len(payload)
        if bits == 64:
            table += struct.pack("<IIQQQQQQ", kind, 4, at, 0, 0, len(content), len(content), 1)
        else:
            table += struct.pack("<IIIIIIII", kind, at, 0, 0, len(content), len(content), 4, 1)
        payload += content
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + bytes(9)
    if bits == 64:
        header = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0, header_size, 0, 0, header_size,
                                     entry_size, len(segments), 64, 0, 0)
    else:
        header = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, 0, header_size, 0, 0, header_size,
                                     entry_size, len(segments), 40, 0, 0)
    return header + table + payload


def test_a_dynamic_glibc_program_can_be_skewed():
    program = elfinfo.describe(elf(b"/lib64/ld-linux-x86-64.so.2"))
    assert (program.kind, program.interpreter, program.machine, program.go) == (
        "elf", "/lib64/ld-linux-x86-64.so.2", "x86-64", False)
    assert elfinfo.refusal(program, library_machine="x86-64") is None


@pytest.mark.parametrize("data, setuid, reason", [
    (elf(None), False, "statically linked"),
    (elf(b"/lib/ld-musl-x86_64.so.1"), False, "musl"),
    (elf(b"/lib64/ld-linux-x86-64.so.2", go_note=True), False, "Go program"),
    (elf(b"/lib64/ld-linux-x86-64.so.2"), True, "setuid"),
    (elf(b"/lib/ld-linux-aarch64.so.1", machine=183), False, "built for aarch64"),
    (elf(b"/lib/ld-linux.so.2", machine=3, bits=32), False, "built for x86;"),
    (b"MZ\x90\x00", False, "neither an ELF program"),
    (b"\x7fELF\x02\x01\x01" + bytes(50), False, "neither an ELF program"),  # truncated headers
])
def test_programs_libfaketime_cannot_reach(data, setuid, reason):
    assert reason in elfinfo.refusal(elfinfo.describe(data), setuid, library_machine="x86-64")


def test_a_script_names_its_interpreter():
    program = elfinfo.describe(b"#!/usr/bin/env -S python3 -u\nprint(1)\n")
    assert (program.kind, program.interpreter, program.script_args) == ("script", "/usr/bin/env", ("-S", "python3", "-u"))
    assert elfinfo.refusal(program) is None


# ---- doctor's look at the helper's libfaketime --------------------------------------------------


def test_doctor_judges_the_faketime_probe():
    works, detail = doctor.judge_faketime_probe("1000.0\n1100.2 0.1003\n")
    assert works and "+100.2s" in detail
    assert doctor.judge_faketime_probe("1000.0\n1000.1 0.1003\n") == (False, "wall clock moved +0.1s, expected +100s")
    works, detail = doctor.judge_faketime_probe("1000.0\n1100.0 0.0001\n")
    assert not works and "monotonic" in detail
    assert not doctor.judge_faketime_probe("Traceback ...")[0]
