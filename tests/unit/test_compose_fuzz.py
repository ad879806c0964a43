"""Mangled compose files read through Docker Compose: whatever the bytes, the harness ends in a
project or in positioned problems (FILE:LINE:COL, one line each), never another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos import compose
from chaos.errors import EnvironmentProblem, SpecError

pytestmark = pytest.mark.unit

VALID = """\
name: fuzzed
services:
  web:
    build: {context: ., target: app}
    command: ["python3", "-m", "http.server", "8000"]
    environment:
      MODE: ${MODE:-dev}
    ports: ["127.0.0.1::8000"]
    volumes: [data:/data, ./conf:/conf:ro]
    depends_on:
      db: {condition: service_healthy}
    healthcheck: {test: [CMD, "true"], interval: 1s}
    deploy: {replicas: 2, resources: {limits: {memory: 64M}}}
  db:
    image: postgres:16
    secrets: [pw]
    networks: [back]
volumes:
  data: {}
networks:
  back: {internal: true}
secrets:
  pw: {file: ./pw.txt}
"""
LINES = VALID.splitlines()
NOISE = st.text(alphabet=st.sampled_from(list("abc:-[]{}$\"' \t#&*!|>%@`,0129\\")), max_size=12)


@st.composite
def mangled(draw) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "insert", "append", "indent", "dedent", "value"]))
        if action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "insert":
            lines.insert(i, draw(NOISE))
        elif action == "append":
            lines[i] += draw(NOISE)
        elif action == "indent":
            lines[i] = "  " + lines[i]
        elif action == "dedent":
            lines[i] = lines[i][2:]
        else:
            key, _, _ = lines[i].partition(":")
            lines[i] = f"{key}: {draw(NOISE)}"
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz")
    (path / "pw.txt").write_text("pw\n")
    (path / "conf").mkdir()
    return path


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mangled())
def test_any_mangled_file_ends_in_a_project_or_positioned_problems(folder, text):
    try:
        compose.compose_command()
    except EnvironmentProblem as exc:
        pytest.skip(str(exc))
    file = folder / "compose.yaml"
    file.write_text(text)
    try:
        project = compose.read_project([file], {"PATH": "/usr/bin:/bin"})
    except SpecError as exc:
        for problem in exc.problems:
            assert problem.file == str(file)
            assert 1 <= problem.line <= max(1, text.count("\n") + 1) and problem.column >= 1
            assert "\n" not in problem.message and problem.message
        return
    assert isinstance(project.services, dict)
