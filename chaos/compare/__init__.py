"""Compare runs side by side: per experiment, phase and metric, a relative change with an interval
and a verdict (better / worse / no change / inconclusive).  Pure: reads run dirs, starts nothing.

Sides
    Each argument is a side; the first is the baseline, every other side is compared with it.
    A side is a run dir (it has ``plan.json``), a directory of run dirs (one experiment, e.g.
    ``reports/shop-redis-latency-v2``) or a directory of such directories (e.g. one per
    version: ``reports-v1.4/``).  In a directory the ``last`` (default 1) most recent runs of
    each experiment that *completed* are used (newest first by run id); aborted, interrupted
    or failed runs are skipped with a note.  With ``last`` > 1 the runs are pooled (see
    below).  A run dir given directly is always used, with a note when it did not complete.
    When every side holds exactly one experiment, those are compared whatever their names
    (``shop-redis-latency-v1`` against ``-v2``); otherwise experiments are matched by name.

Metrics
    Per phase (every phase except ``warmup``): error rate, p50, p95 and p99 latency, and
    throughput.  Latency and throughput change is relative, ``B / A - 1``; error-rate change
    is absolute, ``B - A`` in percentage points (a relative change from 0 errors means nothing).

Intervals
    Requests close in time are correlated, so, as in the verdicts of a run, each phase is cut
    into 1 s windows and whole windows are resampled: ``RESAMPLES`` draws per side, the sides
    independently (seeded from the run ids: a re-render is identical).  The change is computed
    per draw and its 2.5 and 97.5 percentiles are the 95 % interval.  Latency quantiles come
    from per-window histograms with 1 %-wide log bins.  When a side pools several runs, each
    draw first draws the runs with replacement, then windows within each drawn run (a two-stage
    bootstrap), so the spread *between* runs widens the interval as it should.  A side with a
    single run borrows that spread: when the baseline (else another side) pools k >= 2 runs,
    each draw of the single run is shifted by the deviation of one of those runs, drawn at
    random, from their pooled value (log ratio; difference for the error rate), widened by
    sqrt(k / (k - 1)).  With one run on every side the interval knows nothing about
    run-to-run drift (another tenant on the machine, a cold cache): keep several baseline
    runs when the answer matters.
    Error-rate intervals are the union of the bootstrap interval and Newcombe's hybrid score
    interval for a difference of two proportions (the bootstrap collapses to a point when
    errors are rare or absent: 0 errors in 400 requests does not prove an error rate under
    0.5 %).

Tolerance and verdict (Kayenta-style)
    Each metric has a tolerance band ``[-t, +t]`` around "no change": ``t = tolerance``
    (default 10 %) for throughput; ``t = max(tolerance, 1 ms / A)`` for latency (a change of
    less than a millisecond never matters); ``t = max(tolerance x A, 0.5 pp)`` for the error
    rate.  Per metric, two one-sided bootstrap tests ask whether the change is beyond ``+t`` on
    the bad side or beyond ``-t`` on the good side; the smaller p-value, doubled, is the
    metric's p-value (for error rates the larger of the bootstrap and Newcombe p-values).
    Holm's step-down correction runs over every judged metric of one candidate against the
    baseline (all experiments and phases together), at family-wise error 5 %: comparing two
    identical versions flags anything in at most about 5 % of comparisons, however many
    metrics there are.  Then:

    * **worse** / **better**: rejected by Holm, in the direction of the smaller p-value;
    * **no change**: not rejected, and the whole 95 % interval lies inside ``[-t, +t]``;
    * **inconclusive**: not rejected and the interval reaches past the tolerance (too noisy
      to tell), or too little data: fewer than 5 windows with requests on a side, fewer
      requests than a quantile needs (100 for p99), or the phase is missing on a side.

    A change beyond the tolerance at 95 % that does not survive the correction is
    inconclusive ("marginal" in Kayenta's words), not worse.

Overall
    worse (any metric of any candidate) > better > inconclusive > no change.

Layout
    ``settings`` holds what a comparison is asked (tolerances, resamples) and its input error;
    ``sides`` picks the runs of each side; ``resampling`` holds one side's phase in 1 s windows and
    its bootstrap draws (pooled runs, borrowed drift); ``judging`` judges one metric of a candidate
    against the baseline and applies Holm's correction; ``comparison`` ties them into the
    ``chaos.compare/1`` document; ``over_time`` gives the overlaid charts' series; ``wording`` the
    changes, reasons and headline in words; ``gate`` the exit codes and ``chaos run --baseline``.
    Import from ``chaos.compare``: the modules are its inside.
"""

from chaos.compare.comparison import SCHEMA, compare, compare_sides
from chaos.compare.gate import FAIL_ON, against_baseline, baseline_side, exit_code, failing, gate_exit_code
from chaos.compare.judging import holm, judge_metric, shortfall
from chaos.compare.settings import (
    ALPHA,
    DEFAULT_TOLERANCE,
    ERROR_FLOOR,
    LATENCY_FLOOR_MS,
    RESAMPLES,
    SKIPPED_PHASES,
    VERDICT_RANK,
    VERDICTS,
    CompareInputError,
    Settings,
    parse_tolerances,
)
from chaos.compare.sides import RunRef, Side, collect_side, is_run_dir, pair_experiments, run_ref
from chaos.compare.wording import format_change, tolerance_text

__all__ = [
    "ALPHA", "DEFAULT_TOLERANCE", "ERROR_FLOOR", "FAIL_ON", "LATENCY_FLOOR_MS", "RESAMPLES", "SCHEMA",
    "SKIPPED_PHASES", "VERDICTS", "VERDICT_RANK", "CompareInputError", "RunRef", "Settings", "Side",
    "against_baseline", "baseline_side", "collect_side", "compare", "compare_sides", "exit_code", "failing",
    "format_change", "gate_exit_code", "holm", "is_run_dir", "judge_metric", "pair_experiments",
    "parse_tolerances", "run_ref", "shortfall", "tolerance_text",
]
