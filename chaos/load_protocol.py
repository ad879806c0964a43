"""Names shared by the harness and the modules it loads into Locust processes (no locust import here)."""

COLUMNS = ("t_wall", "t_mono", "latency_ms", "name", "method", "status", "success", "bytes", "error", "service_ms")
# Key in a request's context holding its intended send time (open model), CLOCK_MONOTONIC seconds.
INTENDED = "chaos_intended_mono"
ARRIVALS_USER = "ChaosArrivals"
SCENARIO_USER = "ScenarioUser"
