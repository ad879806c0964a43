"""Open-model load, loaded INSIDE Locust next to the recorder and the user's locustfile.

One ``ChaosArrivals`` user per process sends requests at a constant arrival rate, whatever the
service does: each arrival runs one task of a pooled instance of the user's own classes in its
own greenlet, tagged with its intended send time (see locust_recorder). Arrivals beyond the
in-flight limit are recorded as failures instead of silently skipped.
"""

from __future__ import annotations

import json
import os
import random
import time

import gevent
from locust import User, constant, events, task

from chaos.load_protocol import ARRIVALS_USER, INTENDED


class Overloaded(Exception):
    """An arrival not sent because the in-flight limit was reached: a failure, not a silence."""


class Unfinished(Exception):
    """A request still waiting for its answer when the load stopped: its wait so far is its latency."""


# (class name, intended send time, greenlet) of every arrival whose task has not returned yet.
_in_flight: dict[int, tuple[str, float, gevent.Greenlet]] = {}


@events.test_stopping.add_listener
def _record_unfinished(environment, **_kwargs):
    unfinished = list(_in_flight.values())
    _in_flight.clear()
    for name, intended, greenlet in unfinished:
        greenlet.kill(block=False)  # so it cannot also be recorded as answered a moment later
        environment.events.request.fire(request_type="UNFINISHED", name=name, response_time=0, response_length=0,
                                        response=None, exception=Unfinished("no answer before the load stopped"),
                                        context={INTENDED: intended})


class ChaosArrivals(User):  # name: load_protocol.ARRIVALS_USER
    wait_time = constant(0)

    @task
    def arrive(self):
        config = json.loads(os.environ["CHAOS_OPEN"])
        available = self.environment.available_user_classes
        names = config["user_classes"] or [name for name in available if name != ARRIVALS_USER]
        classes = [available[name] for name in names]
        rate = config["rate"] / max(1, config["drivers"])
        chooser = random.Random(config.get("seed"))
        pools: dict[type, list[User]] = {cls: [] for cls in classes}
        in_flight = [0]
        interval = 1.0 / rate
        next_arrival = time.monotonic()
        while True:
            delay = next_arrival - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            intended, next_arrival = next_arrival, next_arrival + interval
            cls = chooser.choices(classes, weights=[getattr(c, "weight", 1) for c in classes])[0]
            if in_flight[0] >= config["max_in_flight"]:
                self.environment.events.request.fire(
                    request_type="ARRIVAL", name=cls.__name__, response_time=0, response_length=0, response=None,
                    exception=Overloaded(f"{config['max_in_flight']} requests in flight"), context={INTENDED: intended})
                continue
            user = pools[cls].pop() if pools[cls] else _new_user(cls, self.environment, self.host)
            in_flight[0] += 1
            gevent.spawn(_one_task, user, intended, pools[cls], in_flight, chooser)


def _new_user(cls, environment, host):
    if not getattr(cls, "host", None):
        cls.host = host or environment.host  # Locust sets it only on the classes it spawns itself
    user = cls(environment)
    user._chaos_context = {}
    user.context = lambda: user._chaos_context  # Locust merges this into every request's context
    return user


def _one_task(user, intended: float, pool: list, in_flight: list, chooser: random.Random) -> None:
    user._chaos_context = {INTENDED: intended}
    key = id(user)
    _in_flight[key] = (type(user).__name__, intended, gevent.getcurrent())
    try:
        tasks = user.tasks
        if tasks:
            chooser.choice(tasks)(user)
    except Exception:  # noqa: BLE001 - the request event already recorded the failure
        pass
    finally:
        _in_flight.pop(key, None)
        user._chaos_context = {}
        in_flight[0] -= 1
        pool.append(user)
