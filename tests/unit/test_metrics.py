"""The metric registry: how bounds are written in each unit, and how values are shown."""

import pytest
from support.valid_experiment import VALID, write

from chaos import metrics
from chaos.plan import make_plan
from chaos.spec import load_experiment


@pytest.mark.parametrize("metric, written, value", [
    ("latency.p99", "500ms", 500.0), ("latency.p99", "1.5s", 1500.0), ("latency.mean", 250, 250.0),
    ("error_rate", "5%", 0.05), ("success_rate", 0.99, 0.99),
    ("throughput", "10/s", 10.0), ("throughput", "12.5 req/s", 12.5), ("throughput", 7, 7.0),
    ("count", 300, 300.0),
])
def test_a_bound_is_read_in_its_metrics_unit(metric, written, value):
    assert metrics.bound(metric, written) == pytest.approx(value)


@pytest.mark.parametrize("metric, written, words", [
    ("throughput", "fast", "is not a rate (expected e.g. 10/s"), ("throughput", "10ms", "is not a rate"),
    ("error_rate", "150%", "outside 0..100%"), ("latency.p95", "soon", "is not a duration"),
    ("count", "many", "is not a number"), ("latency.p42", 1, "unknown metric 'latency.p42'"),
])
def test_a_bound_in_the_wrong_unit_says_what_was_expected(metric, written, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(".", r"\.")):
        metrics.bound(metric, written)


def test_an_experiment_may_write_a_throughput_bound_per_second(tmp_path):
    text = VALID + "  - name: busy\n    metric: throughput\n    min: 10/s\n"
    plan = make_plan(load_experiment(write(tmp_path, text), {}), run_id="r1", seed=1)
    assert plan.steady_state[-1].min == 10.0


def test_values_are_shown_in_one_unit_per_metric():
    assert metrics.format_range("latency.p99", 880.0, 1210.0) == "0.88–1.21 s"
    assert metrics.format_value("error_rate", 0.0123) == "1.23 %"
    assert metrics.format_value("throughput", 41.26) == "41.3 req/s"
    assert metrics.format_value("count", None) == "–"
    assert metrics.describe("latency.p999", "GET /") == "p99.9 latency of GET /"


def test_only_descriptive_metrics_have_no_interval():
    assert [m.name for m in metrics.REGISTRY.values() if not m.interval] == ["count", "latency.max"]
    assert metrics.REGISTRY["latency.p99"].needs_requests == 100
    assert metrics.REGISTRY["latency.p999"].needs_requests == 1000
