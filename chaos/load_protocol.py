"""Names shared by the harness and the modules it loads into Locust processes (no locust import here)."""

COLUMNS = ("t_wall", "t_mono", "latency_ms", "name", "method", "status", "success", "bytes", "error", "service_ms")
# Key in a request's context holding its intended send time (open model), CLOCK_MONOTONIC seconds.
INTENDED = "chaos_intended_mono"
ARRIVALS_USER = "ChaosArrivals"
SCENARIO_USER = "ScenarioUser"
# load.timeout in seconds, for the Locust processes: the HTTP client timeout of the scenario and open-model users.
TIMEOUT_ENV = "CHAOS_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
# The error of a request still waiting for its answer when the load stopped: status 0, success 0, and its
# latency is how long it had waited by then (a lower bound of the latency it would have had).
NO_ANSWER = "NoAnswer: still waiting when the load stopped"
# Set on the GreenletExit that interrupted a request once that request's row is recorded, so the open model's
# arrival does not record the same wait a second time.
RECORDED = "chaos_no_answer_recorded"


class NoAnswer(Exception):
    """A request still waiting for its answer when the load stopped (its row's error reads ``NO_ANSWER``)."""

    def __init__(self):
        super().__init__(NO_ANSWER.split(": ", 1)[1])
