"""Game-day plans: the strict loader, its FILE:LINE:COL problems, overrides, variables and the agenda."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaos.cli import main
from chaos.errors import SpecError
from chaos.gameday.agenda import make_agenda, step_plans
from chaos.gameday.model import load_gameday

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "gamedays" / "shop-q4.yaml"
# A Monday inside shop-q4.yaml's rule (from 2026-10-01 until 2027-03-31): the tests must not depend on the day
# they run (they failed once that rule had no start left).
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW.astimezone(tz) if tz else NOW.astimezone().replace(tzinfo=None)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("chaos.gameday.cli.datetime", FrozenDatetime)


def write(tmp_path: Path, text: str, name: str = "day.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("@REPO@", str(REPO)))
    return path


def problems(path: Path, variables=None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_gameday(path, variables)
    return [str(p) for p in caught.value.problems]


MINIMAL = """\
title: Minimal
owners: [me]
system:
  targets:
    compose: @REPO@/targets/shop/compose.yaml
steps:
  - experiment: @REPO@/experiments/shop-redis-latency.yaml
"""


def test_the_example_plan_loads_with_three_steps_on_one_system():
    day = load_gameday(EXAMPLE)
    assert day.name == "shop-q4"
    assert [s.title for s in day.steps] == ["slow redis", "inventory lost", "thin pipe to redis"]
    assert day.services["api"].image == "chaos-shop-api:v2", "the plan's vars reach the system"
    assert {s.loaded.experiment.name for s in day.steps} == {
        "shop-redis-latency-v2", "shop-inventory-down-v2", "shop-bandwidth-squeeze-v2"}
    assert set(day.links()) == {"api -> redis:6379", "load -> api:8080", "api -> inventory:8081"}
    assert day.spec.stop_on == "deviated"
    rule = day.rule()
    assert rule.cron == "0 10 * * 2" and rule.timezone == "Europe/Berlin" and len(rule.blackouts) == 2


def test_step_overrides_change_the_plan_of_that_step_only():
    day = load_gameday(EXAMPLE)
    plans = step_plans(day)
    assert plans[1].phases["baseline"] == 15.0 and plans[1].phases["recovery"] == 10.0  # overridden
    assert plans[2].phases["baseline"] == 15.0 and plans[2].phases["recovery"] == 15.0  # the file's own


def test_variables_plan_then_step_then_command_line(tmp_path):
    path = write(tmp_path, MINIMAL.replace("owners: [me]", "owners: [me]\nvars: {API_VERSION: v2}") + """\
    vars: {API_VERSION: v1}
  - experiment: @REPO@/experiments/shop-inventory-down.yaml
    name: second
""")
    with pytest.raises(SpecError) as caught:
        load_gameday(path)  # step 1 asks for v1 while the day's system runs v2
    assert any("expects api as chaos-shop-api:v1, the day's system runs chaos-shop-api:v2" in str(p)
               for p in caught.value.problems)
    day = load_gameday(path, {"API_VERSION": "v1"})  # the command line wins everywhere
    assert day.services["api"].image == "chaos-shop-api:v1"
    assert [s.loaded.experiment.name for s in day.steps] == ["shop-redis-latency-v1", "shop-inventory-down-v1"]


def test_every_problem_at_once_with_file_line_and_column(tmp_path):
    path = write(tmp_path, """\
title: Broken
owners: []
stop_onn: deviated
system:
  targets:
    compose: @REPO@/targets/shop/compose.yaml
schedule:
  cron: "0 10 * *"
  timezone: Europe/Berlinn
steps:
  - experiment: nowhere.yaml
  - experiment: @REPO@/experiments/shop-redis-latency.yaml
    pause_after: soon
""")
    found = problems(path)
    text = "\n".join(found)
    assert f"{path}:3:1: stop_onn: unknown field (did you mean 'stop_on'?)" in text
    assert f"{path}:2:1: owners:" in text and "at least 1" in text
    assert f"{path}:13:5: steps[1].pause_after:" in text and "is not a duration" in text
    assert len(found) == 3, "shape problems first: the rest is checked once the shape is right"

    path = write(tmp_path, """\
title: Broken
owners: [me]
system:
  targets:
    compose: @REPO@/targets/shop/compose.yaml
schedule:
  cron: "0 10 * *"
  timezone: Europe/Berlinn
steps:
  - experiment: nowhere.yaml
""")
    text = "\n".join(problems(path))
    assert f"{path}:7:3: schedule.cron: '0 10 * *' is not a cron rule of 5 fields" in text
    assert f"{path}:8:3: schedule.timezone: unknown time zone 'Europe/Berlinn' (did you mean 'Europe/Berlin'?)" in text
    assert f"{path}:10:5: steps[0].experiment: experiment file nowhere.yaml not found" in text


def test_a_broken_experiment_is_reported_in_its_own_file_and_at_the_step(tmp_path):
    experiment = tmp_path / "bad-experiment.yaml"
    experiment.write_text((REPO / "experiments" / "shop-redis-latency.yaml").read_text()
                          .replace("../targets", str(REPO / "targets")).replace("latency: 300ms", "latencyy: 300ms"))
    path = write(tmp_path, MINIMAL.replace("@REPO@/experiments/shop-redis-latency.yaml", "bad-experiment.yaml"))
    text = "\n".join(problems(path))
    assert f"{experiment}:" in text and "latencyy" in text
    assert f"{path}:7:5: steps[0].experiment: experiment bad-experiment.yaml has" in text


def test_schedule_rules(tmp_path):
    base = MINIMAL + "schedule:\n"
    text = "\n".join(problems(write(tmp_path, base + "  at: 2026-12-08T10:00:00\n")))
    assert "schedule.at: give a time zone" in text
    text = "\n".join(problems(write(tmp_path, base + "  cron: '0 10 * * 2'\n")))
    assert "schedule.timezone: a cron rule needs a timezone" in text
    text = "\n".join(problems(write(tmp_path, base + "  at: 2026-12-08T10:00:00+01:00\n  cron: '0 10 * * 2'\n")))
    assert "give either at (one date-time) or cron" in text
    text = "\n".join(problems(write(tmp_path, base + (
        "  at: 2026-12-24T10:00:00+01:00\n  blackouts:\n"
        "    - {from: 2026-12-21, until: 2027-01-04, reason: holidays}\n"))))
    assert "schedule.at: falls into the blackout" in text and "holidays" in text
    day = load_gameday(write(tmp_path, base + "  at: 2026-12-08T10:00:00+01:00\n"))
    assert day.rule().at.isoformat() == "2026-12-08T10:00:00+01:00"


def test_the_agenda_adds_up_and_keeps_the_order(tmp_path):
    day = load_gameday(EXAMPLE)
    agenda = make_agenda(day)
    kinds = [item.kind for item in agenda.items]
    assert kinds == ["system", "step", "pause", "step", "pause", "step", "teardown"]
    for before, after in zip(agenda.items, agenda.items[1:]):
        assert after.offset == pytest.approx(before.end)
    plans = step_plans(day)
    assert agenda.steps()[0].duration > plans[1].duration, "a step's set-up and wrap-up are in the estimate"
    assert agenda.total == pytest.approx(agenda.items[-1].end)


def test_gameday_plan_command_prints_absolute_times_and_bad_input_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["gameday", "plan", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "  Tue 2026-11-03 10:00 CET → " in result.output, result.output  # the first Tuesday after NOW
    assert "agenda (next start 2026-11-03 10:00 CET)" in result.output and "step 2: inventory lost" in result.output
    assert "total ≈" in result.output

    bad = write(tmp_path, MINIMAL.replace("title: Minimal", "title: Minimal\nstop_on: sometimes"))
    result = CliRunner().invoke(main, ["gameday", "plan", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2:1: stop_on:" in result.output


def test_a_title_with_rich_markup_is_printed_as_written(tmp_path):
    path = write(tmp_path, MINIMAL.replace("title: Minimal", "title: '[/x] drill [bold]'"))
    result = CliRunner().invoke(main, ["gameday", "plan", str(path)])
    assert result.exception is None, result.exception  # `[/x]` closed nothing: rich raised MarkupError
    assert result.exit_code == 0 and "[/x] drill [bold]  (day)" in result.output


def test_a_webhook_header_with_a_line_break_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, MINIMAL + textwrap.dedent("""\
        notify:
          webhook:
            url: https://hooks.example/T1
            headers:
              Authorization: "Bearer x\\r\\nX-Forwarded-For: 1.2.3.4"
        """))
    assert problems(path) == [f"{path}:11:5: notify.webhook.headers: the value of header 'Authorization' holds a "
                              "line break (CR or LF) or NUL"]


def test_a_cron_rule_that_never_fires_is_refused(tmp_path):
    path = write(tmp_path, MINIMAL + "schedule:\n  cron: '0 10 30 2 *'\n  timezone: Europe/Berlin\n")
    assert problems(path) == [f"{path}:9:3: schedule.cron: '0 10 30 2 *' never fires: no date matches its "
                              "day-of-month and month"]
    assert load_gameday(write(tmp_path, MINIMAL + "schedule:\n  cron: '0 10 29 2 *'\n  timezone: UTC\n"))


def test_the_days_system_may_adopt_containers_the_user_runs(tmp_path):
    day = load_gameday(write(tmp_path, MINIMAL.replace(
        "    compose: @REPO@/targets/shop/compose.yaml",
        "    compose: @REPO@/targets/shop/compose.yaml\n    attach:\n      metrics: {name: my-metrics}")))
    assert day.services["metrics"].attach.name == "my-metrics"
    text = "\n".join(problems(write(tmp_path, MINIMAL.replace(
        "    compose: @REPO@/targets/shop/compose.yaml",
        "    compose: @REPO@/targets/shop/compose.yaml\n    attach:\n      api: {name: my-api}"))))
    assert "system.targets.attach.api: 'api' is also a service the day starts" in text
    text = "\n".join(problems(write(tmp_path, MINIMAL.replace(
        "  targets:\n    compose: @REPO@/targets/shop/compose.yaml", "  attach: 20261127T101500-ab12\n  targets: {}"))))
    assert "system: give either targets (the day starts the system) or attach" in text


def test_plan_shape_problems_are_worded_like_an_experiments(tmp_path):
    # one translation of validation errors for both formats: plain words, never the library's own
    path = write(tmp_path, MINIMAL.replace("owners: [me]", "owners: 5\nstop_on: deviatd\nnotify: {stdout: maybe}"))
    found = problems(path)
    assert f"{path}:2:1: owners: expected a list, got the number 5 (for one item write [5])" in found
    assert (f"{path}:3:1: stop_on: 'deviatd' is not one of: deviated, aborted, never (did you mean 'deviated'?)"
            in found)
    assert f"{path}:4:10: notify.stdout: expected true or false, got text 'maybe'" in found
    assert not any("Input should" in problem for problem in found), found
