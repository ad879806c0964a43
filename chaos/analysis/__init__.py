"""Run dir -> metrics per phase, steady-state verdicts, recovery times, resilience score.

Pure: reads ``plan.json``, ``journal.jsonl`` and ``samples.parquet`` and nothing else;
the same run dir and seed always give the same summary.

Phases and time
    Spans come from ``chaos/spans.py``: the phase events, with the fault phase judged from the
    first fault in effect to the start of the last revert, contiguous up to the load's stop, so
    every request is judged.  A request belongs to the span in which it *started* (``t_mono``),
    except one still unanswered when the fault took effect: it met the fault and is judged in
    the fault span's first window.  Times in the summary are seconds since ``run_started``.

Waiting and stalls
    A request outstanding across a whole 1 s window (at least half a second long: a span's last
    sliver says nothing) adds a *waiting observation* to that window, its wait so far a lower
    bound on its latency.  It fails when its request failed in the end, past ``load.timeout``, or
    when the window is a stall: nothing at all was answered while requests waited, in a window
    long enough for the baseline's pace to give ``STALL_MIN_ANSWERS`` (5) answers.  An answer after the timeout is a
    failure.  Waiting observations count in every metric but ``count`` and ``throughput`` (how
    many were sent), so a closed-model outage (users hang, few requests) deviates instead of
    reading "too few windows".

Block bootstrap
    Requests close in time are correlated (a slow second makes many slow requests), so
    resampling single requests gives intervals that are far too narrow.  Each phase is
    cut into 1 s windows and the *windows* are resampled with replacement
    (``RESAMPLES`` = 1000 draws, seeded with the plan seed, so a re-render is identical).
    Intervals are 95 % percentile intervals.  Ratios (error rate, mean latency,
    throughput, exceedance fractions) are resampled as sum-of-numerators over
    sum-of-denominators; quantiles from per-window log-spaced histograms (1 % bins,
    interpolated), which keeps a million samples to a few matrix products.

Verdict of one check (hypothesis x phase x bound)
    ``held`` when the whole interval is on the good side of the threshold, ``deviated``
    when the whole interval is on the bad side, ``inconclusive`` when it straddles the
    threshold or there is too little data: fewer than ``MIN_WINDOWS`` (5) windows with
    requests, or, for a quantile q, fewer than ceil(1 / (1 - q)) requests (100 for p99,
    1000 for p99.9): below that the quantile is simply the maximum.  A deviation needs no such
    count: when even the lower end of the interval of the fraction past the bound exceeds 1 - q,
    the quantile is past it, however few the requests.

    Quantile thresholds are judged through an equivalent proportion, which has a sound
    interval at moderate sample counts where a bootstrap of the p99 itself does not:
    ``p_q <= T``  iff  the fraction of requests slower than T is at most 1 - q.  That
    exceedance fraction is block-bootstrapped and judged against 1 - q (for a lower bound
    ``p_q >= T``: the fraction faster than T against q).  The quantile and its own
    bootstrap interval are still reported as the observed value.

    Proportions (error rate, success rate, exceedance fractions) with k events in n
    requests: for 0 < k < n the interval is the union of the block-bootstrap interval
    and the Wilson score interval (the bootstrap collapses when events are rare).  With
    k = 0 the bootstrap interval is [0, 0], which would "prove" anything; the upper end
    is then the rule of three, 3 / n (the one-sided 95 % bound, exactly 1 - 0.05^(1/n)).
    So zero failures hold an error-rate bound of 1 % only from n >= 300 requests, and a
    p99 bound with no request above it also needs n >= 300.  k = n is mirrored
    (lower end 1 - 3/n).

    ``latency.max`` and ``count`` are descriptive (no interval: one request over the
    bound *is* a deviation).  Every check has a 95 % interval on its own; no correction
    across checks is applied, so with many checks an occasional false "deviated" near a
    threshold is possible: set thresholds with margin.

Recovery and degradation, per fault
    The baseline band, per 1 s window, from the baseline's requests: p50 and p99 each <= max(2 x
    the median baseline window's, that + 50 ms), and error rate <= the median baseline window's
    + 2 percentage points.  A median of windows, so a few outlier windows cannot widen it; the
    p50 limit sees a fault that slows every request even when rare slow requests reach most
    baseline windows' p99.  Windows are laid from ``fault_injected``
    (resp. the revert's start).  *Time to degrade* is the start of the first of 2 consecutive
    windows outside the band before the revert (with what left it); *recovery time* is the start
    of the first of 3 consecutive windows back in the band after the revert began (before the next
    fault starts); ``None`` if that never happens.  When the baseline sees at least 5 requests per
    second, a window with no request at all counts as outside the band.  A held run whose fault
    left the band says so in the fault's note.  Resolution is one window (1 s).

Resilience score (0-100)
    ``score = 100 x sum_h w_h x (held_h + 0.5 x inconclusive_h) / checks_h / sum_h w_h``
    over hypotheses h with weight w_h (LitmusChaos' weighted probe success); deviated
    checks count 0.  An aborted run scores 0.  No checks: no score (``None``).

Overall verdict
    aborted (an ``abort`` event, or the run ended ``aborted``/``interrupted``) >
    deviated (any check) > inconclusive (any check, no checks, or the run ended with an
    error) > held.

Secrets
    A real plan.json holds no secret values: the runner passes them to the renderers
    (``render_all(..., secrets=)``) and scrubs the samples and Locust's logs before they
    are read (see ``chaos/secrets.py``).  A plan written by other means may list
    ``secrets`` or carry target environments; those strings, and environment values
    whose key looks secret (PASSWORD, TOKEN, SECRET, KEY, ...) or that hold a password
    in a URL, are replaced by ``***`` in the whole summary.  Target environments are
    never copied into the summary.

Layout
    ``loading`` reads a run dir into a ``Run``; ``slices`` holds one phase's requests in 1 s windows
    and their intervals; ``waiting`` adds waiting observations and finds stalls; ``checks`` judges
    each hypothesis per phase and bound; ``recovery`` lays the baseline band and times each fault's
    degradation and recovery; ``run_analysis`` ties them into one ``Analysis`` of a run (per-phase
    tables, series, context); ``verdict`` words checks and gives the overall verdict, score and exit
    code; ``summary`` builds the ``chaos.summary/1`` document; ``hygiene`` keeps secrets out of it
    and makes it JSON-safe.  Import from ``chaos.analysis``: the modules are its inside.
"""

from chaos.analysis.checks import judge
from chaos.analysis.hygiene import REDACTED, json_safe, secrets_of
from chaos.analysis.loading import SAMPLE_COLUMNS, Run, load_run
from chaos.analysis.recovery import BAND_ADD_MS, BAND_ERROR_ADD, BAND_FACTOR, DEGRADE_WINDOWS, RECOVERY_WINDOWS
from chaos.analysis.run_analysis import Analysis
from chaos.analysis.slices import MIN_WINDOWS, RESAMPLES, SENT_METRICS, STATUS_CLASSES, PhaseSlice
from chaos.analysis.summary import SCHEMA, PhaseWindows, analyse, load_model, phase_windows
from chaos.analysis.verdict import EXIT_CODES, SCORE_FORMULA, VERDICT_RANK, exit_code
from chaos.analysis.waiting import STALL_MIN_ANSWERS
from chaos.metrics import format_value  # read from here by tests and older callers
from chaos.rundir import RunDirError

__all__ = [
    "BAND_ADD_MS", "BAND_ERROR_ADD", "BAND_FACTOR", "DEGRADE_WINDOWS", "EXIT_CODES", "MIN_WINDOWS",
    "RECOVERY_WINDOWS", "REDACTED", "RESAMPLES", "SAMPLE_COLUMNS", "SCHEMA", "SCORE_FORMULA", "SENT_METRICS",
    "STALL_MIN_ANSWERS", "STATUS_CLASSES", "VERDICT_RANK", "Analysis", "PhaseSlice", "PhaseWindows", "Run",
    "RunDirError", "analyse", "exit_code", "format_value", "json_safe", "judge", "load_model", "load_run",
    "phase_windows", "secrets_of",
]
