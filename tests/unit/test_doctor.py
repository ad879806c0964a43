"""The pure parts of `chaos doctor`: reading engine errors, choosing hints, rendering lines."""

import io

import pytest
from rich.console import Console

from chaos import doctor
from chaos.doctor import Check, Status
from chaos.images import BASE_IMAGE, REQUIRED_IMAGES, SHOP_IMAGES, TOXIPROXY_IMAGE

pytestmark = pytest.mark.unit

DEAD_SOCKET_ERROR = (
    "Error while fetching server API version: ('Connection aborted.', "
    "FileNotFoundError(2, 'No such file or directory'))"
)
DENIED_ERROR = (
    "Error while fetching server API version: ('Connection aborted.', "
    "PermissionError(13, 'Permission denied'))"
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DEAD_SOCKET_ERROR, "socket not found"),
        (DENIED_ERROR, "permission denied"),
        ("HTTPConnectionPool(host='10.0.0.9', port=2375): Max retries exceeded (Connection refused)", "connection refused"),
        ("Read timed out. (read timeout=20)", "timed out"),
        ("something new\nwith a second line", "something new"),
        ("", "unknown error"),
    ],
)
def test_engine_errors_are_shortened_to_a_reason(error, reason):
    assert doctor.describe_engine_error(error) == reason


def test_permission_errors_are_told_apart_from_a_missing_engine():
    assert doctor.engine_error_is_permission(DENIED_ERROR)
    assert not doctor.engine_error_is_permission(DEAD_SOCKET_ERROR)


def test_unreachable_engine_hint_names_docker_host_when_it_is_set():
    hint = doctor.engine_unreachable_hint("unix:///tmp/nonexistent.sock")
    assert "DOCKER_HOST=unix:///tmp/nonexistent.sock" in hint
    assert "make setup" in doctor.engine_unreachable_hint(None)


def test_shop_images_point_at_their_build_script_and_the_rest_at_setup():
    assert all("targets/shop/build.sh" in doctor.image_hint(image) for image in SHOP_IMAGES)
    assert doctor.image_hint(TOXIPROXY_IMAGE) == "run `make setup`"
    assert doctor.image_hint(BASE_IMAGE) == "run `make setup`"


def test_remote_engine_explains_why_its_toxiproxy_port_is_unreachable():
    assert "remote" in doctor.toxiproxy_unreachable_hint("tcp://10.0.0.9:2376")
    assert "remote" not in doctor.toxiproxy_unreachable_hint("unix:///var/run/docker.sock")
    assert "remote" not in doctor.toxiproxy_unreachable_hint(None)


def test_iptables_hint_tells_a_missing_binary_from_a_kernel_that_refuses():
    assert "make setup" in doctor.iptables_hint("sh: 1: iptables: not found")
    assert "NET_ADMIN" in doctor.iptables_hint("iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied")


@pytest.mark.parametrize(
    ("body", "version"),
    [('{"version": "2.12.0"}\n', "2.12.0"), ("2.5.0\n", "2.5.0"), ('["odd"]', '["odd"]')],
)
def test_toxiproxy_version_is_read_from_json_or_plain_text(body, version):
    assert doctor.parse_toxiproxy_version(body) == version


def test_image_detail_shows_a_short_id_and_size_in_megabytes():
    assert doctor.image_detail("sha256:05065ed40cc2", 11_234_567) == "present (05065ed40cc2, 11 MB)"


def _checks(*statuses: Status) -> list[Check]:
    return [Check(f"requirement {i}", status, "detail", "do this") for i, status in enumerate(statuses)]


def test_exit_code_is_zero_only_when_every_requirement_is_met():
    assert doctor.exit_code(_checks(Status.PASS, Status.PASS)) == 0
    assert doctor.exit_code(_checks(Status.PASS, Status.FAIL)) == 1
    assert doctor.exit_code(_checks(Status.PASS, Status.SKIP)) == 1
    assert doctor.exit_code([]) == 1


def test_summary_counts_unmet_and_unchecked_requirements():
    assert doctor.summary(_checks(Status.PASS, Status.PASS)) == "all 2 requirements met"
    assert doctor.summary(_checks(Status.FAIL, Status.SKIP, Status.PASS)) == "1 of 3 requirements not met; 1 not checked"


def test_a_failed_line_carries_its_hint_and_a_passed_line_does_not():
    failed = doctor.format_line(Check("docker engine", Status.FAIL, "no answer", "start it"), 14).plain
    passed = doctor.format_line(Check("docker engine", Status.PASS, "server 28.2", "start it"), 14).plain
    assert failed == "FAIL  docker engine   no answer  fix: start it"
    assert passed == "ok    docker engine   server 28.2"


def test_rendered_lines_align_names_and_end_with_the_summary():
    lines = [line.plain for line in doctor.render([Check("a", Status.PASS, "x"), Check("longer", Status.PASS, "y")])]
    assert lines == ["ok    a       x", "ok    longer  y", "all 2 requirements met"]


def test_output_to_a_pipe_has_no_control_characters(monkeypatch):
    checks = _checks(Status.PASS, Status.FAIL, Status.SKIP)
    monkeypatch.setattr(doctor, "run_checks", lambda: checks)
    out = io.StringIO()
    code = doctor.doctor_command(Console(file=out, soft_wrap=True))
    text = out.getvalue()
    assert code == 1
    assert "\x1b" not in text
    assert text.splitlines() == [line.plain for line in doctor.render(checks)]


def test_without_an_engine_every_requirement_still_gets_a_line(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)

    def no_engine():
        raise ConnectionError(DEAD_SOCKET_ERROR)

    checks = doctor.run_checks(connect=no_engine)
    assert checks[0] == Check(
        "docker engine",
        Status.FAIL,
        checks[0].detail,
        doctor.engine_unreachable_hint(None),
    )
    assert "socket not found" in checks[0].detail
    assert [c.name for c in checks[2:2 + len(REQUIRED_IMAGES)]] == [f"image {i}" for i in REQUIRED_IMAGES]
    assert all(c.status is Status.SKIP for c in checks[1:-1])
    assert checks[-1].name == "docker compose"  # reading compose files needs no engine
