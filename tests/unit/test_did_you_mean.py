"""One did-you-mean for every name a person can mistype: services, probes, signals, fields, time zones."""

from chaos.errors import did_you_mean, nearest


def test_a_near_spelling_is_suggested():
    assert did_you_mean("redsi", ["api", "redis"]) == " (did you mean 'redis'?)"


def test_other_case_or_a_dash_for_an_underscore_is_the_same_name():
    assert nearest("ERROR-RATE", ["error_rate", "throughput"]) == "error_rate"


def test_nothing_near_ends_the_message_with_what_the_caller_lists():
    assert did_you_mean("zzz", ["api", "redis"], " (services: api, redis)") == " (services: api, redis)"
    assert did_you_mean("zzz", []) == ""


def test_a_stricter_cutoff_suggests_less():
    assert nearest("latncy", ["latency"], cutoff=0.7) == "latency"
    assert nearest("lt", ["latency"], cutoff=0.7) is None
