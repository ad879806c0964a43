"""The compose corpus through the harness: `chaos init`, `chaos validate` and `chaos run --dry-run`
accept every valid project, what the harness would start matches Compose's own canonical model
(images, commands, environment, mounts, ports), and every invalid project is refused with
FILE:LINE: key: message and exit 2."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner
from support import check_corpus

from chaos import service_config, spec
from chaos.cli import main
from chaos.plan import make_system_plan

pytestmark = pytest.mark.unit

PROJECTS = check_corpus.load_manifest()
VALID = [p for p in PROJECTS if p.kind == "valid"]
INVALID = [p for p in PROJECTS if p.kind == "invalid"]
COMPOSE = check_corpus.find_compose()
needs_compose = pytest.mark.skipif(COMPOSE is None, reason=check_corpus.missing_reason())


@pytest.fixture
def minimal_environment(monkeypatch):
    """The environment the corpus checker gives Compose, so both read the same variables."""
    for name in list(os.environ):
        if name not in ("PATH", "HOME"):
            monkeypatch.delenv(name)


def files_of(project) -> list[str]:
    return [str(project.folder / f) for f in project.files]


@needs_compose
@pytest.mark.parametrize("project", VALID, ids=[p.name for p in VALID])
def test_init_validate_and_dry_run_accept_every_valid_project(project, tmp_path, minimal_environment):
    runner = CliRunner()
    experiment = tmp_path / "experiment.yaml"
    profiles = [a for p in project.profiles for a in ("--profile", p)]
    result = runner.invoke(main, ["init", *files_of(project), "-o", str(experiment), *profiles])
    assert result.exit_code == 0, result.output
    for command in (["validate", str(experiment)], ["run", str(experiment), "--dry-run"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 0, f"{' '.join(command)}:\n{result.output}"


@needs_compose
@pytest.mark.parametrize("project", VALID, ids=[p.name for p in VALID])
def test_what_the_harness_starts_matches_compose_config(project, minimal_environment):
    canonical = check_corpus.canonical(COMPOSE, project)
    services = spec.load_compose(files_of(project), profiles=project.profiles)
    targets = {t.name: t for t in make_system_plan("corpus", services, []).targets}
    assert set(targets) == set(canonical["services"])
    for name, expected in canonical["services"].items():
        target = targets[name]
        image = expected.get("image") or service_config.default_image(canonical["name"], name)
        assert target.image == image, name
        assert target.command == service_config.unescape(expected.get("command")), name
        assert target.entrypoint == service_config.unescape(expected.get("entrypoint")), name
        environment = {k: "" if v is None else str(v) for k, v in (expected.get("environment") or {}).items()}
        assert target.environment == service_config.unescape(environment), name
        assert [m["target"] for m in target.mounts] == [v["target"] for v in expected.get("volumes") or []], name
        assert sorted(target.ports) == sorted(p["target"] for p in expected.get("ports") or []
                                              if p.get("protocol", "tcp") == "tcp"), name
        wanted_files = [s.get("target") or s["source"] for s in expected.get("secrets") or []]
        assert [f["target"].removeprefix("/run/secrets/") for f in target.files[:len(wanted_files)]] == \
            [t.removeprefix("/run/secrets/") for t in wanted_files], name
        replicas = (expected.get("deploy") or {}).get("replicas")
        assert target.replicas == (1 if replicas is None else replicas), name
        assert target.network_mode == expected.get("network_mode"), name


@needs_compose
@pytest.mark.parametrize("project", INVALID, ids=[p.name for p in INVALID])
def test_every_invalid_project_is_refused_with_file_line_and_key(project, tmp_path, minimal_environment):
    experiment = tmp_path / "experiment.yaml"
    listed = ", ".join(f'"{f}"' for f in files_of(project))
    experiment.write_text(f"name: corpus\ntargets:\n  compose: [{listed}]\nload:\n  scenario: [{{path: /}}]\n"
                          "  target: web:80\n")
    result = CliRunner().invoke(main, ["validate", str(experiment)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = project.error
    line = next(iter(result.stderr.splitlines()))
    where = re.escape(str(project.folder / error["file"]))
    assert re.match(rf"{where}:{error['line']}:\d+: ", line), f"{line}\n(expected line {error['line']})"
