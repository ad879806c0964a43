"""A judged span rarely lasts a whole number of seconds: its last 1 s window is then a sliver (the baseline
ends when the fault is in effect, a few ms after its planned end). Found by the outage e2e runs on the shop
(a 16 ms sliver made a baseline without a failed request read 0.53 % errors); reproduced here on synthetic
samples."""

from __future__ import annotations

import pytest
from support.fakerun import hypothesis
from test_outage_verdicts import closed_users, plan, summary_of, timeline

pytestmark = pytest.mark.unit


def test_a_sliver_at_the_end_of_the_baseline_is_no_stall(tmp_path):
    # every user is answered after 100 ms, on a 10 ms grid offset by 5 ms; nothing ever fails
    samples = closed_users(0.005, 26, latency_ms=100.0)
    assert all(s.get("success", True) for s in samples)
    errors = hypothesis("errors", "error_rate", max=0.01, phases=("baseline",))
    # the fault is in effect 4 ms after the baseline's planned end: no answer falls in those 4 ms
    summary = summary_of(tmp_path, plan(errors), timeline(injected=10.004), samples)
    baseline = next(p for p in summary["phases"] if p["name"] == "baseline")
    [check] = summary["checks"]
    assert baseline["metrics"]["error_rate"]["value"] == 0, check["reason"]
    assert check["stall"] is None and check["verdict"] == "held", check["reason"]
