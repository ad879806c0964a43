"""Open-model load, loaded INSIDE Locust next to the recorder and the user's locustfile.

One ``ChaosArrivals`` user per process sends requests at a constant arrival rate, whatever the
service does: each arrival runs one task of a pooled instance of the user's own classes in its
own greenlet, tagged with its intended send time (see locust_recorder). Arrivals beyond the
in-flight limit are recorded as failures instead of silently skipped.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import traceback

import gevent
import gevent.event
from gevent import GreenletExit
from locust import FastHttpUser, HttpUser, User, constant, events, task
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser

from chaos.load_protocol import ARRIVALS_USER, DEFAULT_TIMEOUT, INTENDED, RECORDED, TIMEOUT_ENV, NoAnswer

logger = logging.getLogger(__name__)


class Overloaded(Exception):
    """An arrival not sent because the in-flight limit was reached: a failure, not a silence."""


# (class name, intended send time, greenlet) of every arrival whose task has not returned yet.
_in_flight: dict[int, tuple[str, float, gevent.Greenlet]] = {}
_stopping = gevent.event.Event()


@events.test_start.add_listener
def _starting(**_kwargs):
    _stopping.clear()


@events.test_stopping.add_listener
def _finish_in_flight(environment, **_kwargs):
    """No new arrivals; those in flight get the grace closed users get (Locust's stop timeout), then are cut:
    the recorder records a request so cut (NoAnswer), ``_one_task`` an arrival cut outside a request."""
    _stopping.set()
    greenlets = [greenlet for _, _, greenlet in _in_flight.values()]
    gevent.joinall(greenlets, timeout=environment.stop_timeout or 0)
    gevent.killall([g for g in greenlets if not g.dead], block=True, timeout=2.0)


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
            if _stopping.is_set():
                raise StopUser()
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
    timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    if issubclass(cls, FastHttpUser) and not _sets_own(cls, FastHttpUser, ("network_timeout", "connection_timeout")):
        cls.network_timeout = cls.connection_timeout = timeout  # read when the instance builds its client
    user = cls(environment)
    if isinstance(user, HttpUser):
        user.client.chaos_timeout = timeout  # requests has no session timeout: the recorder passes it per request
    user._chaos_context = {}
    user.context = lambda: user._chaos_context  # Locust merges this into every request's context
    return user


def _sets_own(cls, base, names) -> bool:
    """Whether ``cls`` (or a class between it and ``base``) chose one of ``names`` itself."""
    return any(name in klass.__dict__ for klass in cls.__mro__[:cls.__mro__.index(base)] for name in names)


def _one_task(user, intended: float, pool: list, in_flight: list, chooser: random.Random) -> None:
    user._chaos_context = {INTENDED: intended}
    key = id(user)
    _in_flight[key] = (type(user).__name__, intended, gevent.getcurrent())
    started = time.monotonic()
    try:
        tasks = user.tasks
        if tasks:
            chooser.choice(tasks)(user)
    except GreenletExit as stopped:
        if not getattr(stopped, RECORDED, False):  # cut outside a request the recorder watches
            user.environment.events.request.fire(
                request_type="UNFINISHED", name=type(user).__name__, response_time=(time.monotonic() - started) * 1000,
                response_length=0, response=None, exception=NoAnswer(), context={INTENDED: intended})
        raise
    except (StopUser, RescheduleTask, InterruptTaskSet):
        pass  # Locust's own ways out of a task: this arrival is simply over
    except Exception as error:  # noqa: BLE001 - a failed request is already recorded; a bug in a task is told
        user.environment.events.user_error.fire(user_instance=user, exception=error, tb=error.__traceback__)
        logger.error("%s\n%s", error, traceback.format_exc())
    finally:
        _in_flight.pop(key, None)
        user._chaos_context = {}
        in_flight[0] -= 1
        pool.append(user)
