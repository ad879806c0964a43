"""Shop API: product pages and orders, in a naive (v1) and a resilient (v2) flavour.

API_VERSION selects the flavour. v1 is ordinary first-draft code: no timeouts,
no retries, sequential redis round trips. v2 bounds every wait, retries only
idempotent calls, trips a breaker per dependency and serves a last-known-good
product when redis cannot answer in time.
"""

import concurrent.futures
import hashlib
import json
import os
import sys
import threading
import time
import uuid

import redis

import resilience
from inventory_client import HttpFailure, request_json
from resilience import CircuitBreaker, Deadline, DependencyUnavailable, RetryPolicy, TransientError
from shophttp import ErrorLog, HttpError, Response, Router, log, serve

SERVICE = "api"
ORDER_KEEP_S = 86400
MAX_QTY = 10
MAX_KEY_LENGTH = 200


class Config:
    def __init__(self, environ=os.environ):
        self.version = environ.get("API_VERSION", "v1")
        self.port = int(environ.get("PORT", 8080))
        self.redis_host = environ.get("REDIS_HOST", "redis")
        self.redis_port = int(environ.get("REDIS_PORT", 6379))
        self.inventory_url = environ.get("INVENTORY_URL", "http://inventory:8081").rstrip("/")
        number = lambda name, default: float(environ.get(name, default))
        self.redis_connect_timeout_s = number("REDIS_CONNECT_TIMEOUT_S", 3.0)
        self.redis_read_timeout_s = number("REDIS_READ_TIMEOUT_S", 0.15)
        self.redis_write_timeout_s = number("REDIS_WRITE_TIMEOUT_S", 1.0)
        self.http_connect_timeout_s = number("HTTP_CONNECT_TIMEOUT_S", 3.0)
        self.http_read_timeout_s = number("HTTP_READ_TIMEOUT_S", 2.0)
        self.read_deadline_s = number("READ_DEADLINE_S", 0.45)
        self.stock_deadline_s = number("STOCK_DEADLINE_S", 0.5)
        self.order_deadline_s = number("ORDER_DEADLINE_S", 10.0)
        self.retry_attempts = int(environ.get("RETRY_ATTEMPTS", 3))
        self.retry_base_s = number("RETRY_BASE_S", 0.1)
        self.retry_cap_s = number("RETRY_CAP_S", 5.0)
        self.breaker_failures = int(environ.get("BREAKER_FAILURES", 5))
        self.breaker_reset_s = number("BREAKER_RESET_S", 30.0)
        self.health_check_timeout_s = number("HEALTH_CHECK_TIMEOUT_S", 0.6)
        self.views_flush_s = number("VIEWS_FLUSH_S", 1.0)
        # A build that is slower by this much on every read and order: the modest regression a comparison of two
        # versions must catch (docs/ab.md). 0: none.
        self.extra_latency_s = number("EXTRA_LATENCY_MS", 0.0) / 1000.0

    def describe(self):
        common = f"version={self.version} redis={self.redis_host}:{self.redis_port} inventory={self.inventory_url}"
        if self.version == "v1":
            return common + " timeouts=none retries=none breaker=none"
        return (f"{common} redis_timeouts(connect/read/write)={self.redis_connect_timeout_s}/"
                f"{self.redis_read_timeout_s}/{self.redis_write_timeout_s}s "
                f"http_timeouts(connect/read)={self.http_connect_timeout_s}/{self.http_read_timeout_s}s "
                f"read_deadline={self.read_deadline_s}s retries={self.retry_attempts} attempts "
                f"breaker={self.breaker_failures} failures/{self.breaker_reset_s}s")


# ---------------------------------------------------------------- shared pieces

def parse_product_id(text):
    product_id = int(text)
    if product_id < 1:
        raise HttpError(404, "unknown product")
    return product_id


def parse_order_request(request):
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise HttpError(400, f"an Idempotency-Key header of 1 to {MAX_KEY_LENGTH} characters is required")
    data = request.json()
    product_id, qty = data.get("product_id"), data.get("qty", 1)
    if not isinstance(product_id, int) or isinstance(product_id, bool) or product_id < 1:
        raise HttpError(400, "product_id must be a positive integer")
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
        raise HttpError(400, f"qty must be an integer from 1 to {MAX_QTY}")
    return key, product_id, qty


def product_from_redis(product_id, fields, promo, views):
    if not fields:
        return None
    fields = {k.decode(): v.decode() for k, v in fields.items()}
    return {"id": product_id, "name": fields.get("name"), "category": fields.get("category"),
            "price_cents": int(fields.get("price_cents", 0)),
            "promo_price_cents": int(promo) if promo is not None else None,
            "views": int(views or 0)}


def new_order(key, product_id, qty, reservation):
    unit_price = int(reservation.get("unit_price_cents", 0))
    return {"order_id": uuid.uuid4().hex, "idempotency_key": key, "product_id": product_id, "qty": qty,
            "unit_price_cents": unit_price, "total_cents": unit_price * qty,
            "reservation_id": reservation["reservation_id"],
            "reservation_expires_at": reservation["expires_at"], "status": "reserved",
            "created_at": round(time.time(), 3)}


def raise_for_inventory_answer(status, body):
    if status == 422:  # our reservation id is derived from the key, so the key was reused
        raise HttpError(409, "Idempotency-Key already used for a different order")
    if status in (400, 404, 409):
        raise HttpError(status, (body or {}).get("error", "rejected by inventory"))
    if not 200 <= status < 300:
        raise HttpError(502, f"inventory answered {status}")


def order_key(key):
    return f"order:{key}"


def run_checks_concurrently(checks, wait_s):
    """Runs each check in its own thread; a check still running after wait_s counts as failed."""
    results = {name: {"ok": False, "error": "no answer in time"} for name in checks}

    def run(name, check):
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}
        except Exception as exc:
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in checks.items()]
    for thread in threads:
        thread.start()
    give_up_at = time.monotonic() + wait_s
    for thread in threads:
        thread.join(max(0.0, give_up_at - time.monotonic()))
    return dict(results)


def health_response(checks, breakers):
    breaker_states = {breaker.name: breaker.state for breaker in breakers}
    if not checks["redis"]["ok"]:
        status = "unhealthy"
    elif not checks["inventory"]["ok"] or any(state != "closed" for state in breaker_states.values()):
        status = "degraded"
    else:
        status = "healthy"
    body = {"status": status, "checks": checks}
    if breakers:
        body["checks"]["breakers"] = breaker_states
    return Response(503 if status == "unhealthy" else 200, body)


class HealthProbe:
    """Health answers within a second in both versions: its own short-timeout clients."""

    def __init__(self, config):
        self._config = config
        timeout = config.health_check_timeout_s
        self._redis = redis.Redis(host=config.redis_host, port=config.redis_port,
                                  socket_connect_timeout=timeout, socket_timeout=timeout)

    def checks(self):
        timeout = self._config.health_check_timeout_s

        def inventory():
            status, _ = request_json(self._config.inventory_url, "GET", "/health", None, timeout, timeout)
            if status != 200:
                raise RuntimeError(f"inventory health answered {status}")

        return run_checks_concurrently({"redis": self._redis.ping, "inventory": inventory}, timeout + 0.2)


# ---------------------------------------------------------------- v1: naive

class NaiveShop:
    def __init__(self, config):
        self.config = config
        self.redis = redis.Redis(host=config.redis_host, port=config.redis_port)
        self.health_probe = HealthProbe(config)

    def product(self, request):
        product_id = parse_product_id(request.params["id"])
        fields = self.redis.hgetall(f"product:{product_id}")
        if not fields:
            raise HttpError(404, "unknown product")
        promo = self.redis.get(f"promo:{product_id}")
        views = self.redis.incr(f"views:{product_id}")
        product = product_from_redis(product_id, fields, promo, views)
        status, body = request_json(self.config.inventory_url, "GET", f"/stock/{product_id}")
        product["stock"] = body["stock"] if status == 200 else None
        product["degraded"] = False
        return Response(200, product)

    def order(self, request):
        key, product_id, qty = parse_order_request(request)
        existing = self.redis.get(order_key(key))
        if existing is not None:
            return Response(200, json.loads(existing), {"Idempotent-Replayed": "true"})
        status, reservation = request_json(self.config.inventory_url, "POST", "/reservations",
                                           {"product_id": product_id, "qty": qty})
        raise_for_inventory_answer(status, reservation)
        order = new_order(key, product_id, qty, reservation)
        if self.redis.set(order_key(key), json.dumps(order), nx=True, ex=ORDER_KEEP_S):
            return Response(201, order)
        return Response(200, json.loads(self.redis.get(order_key(key))), {"Idempotent-Replayed": "true"})

    def health(self, request):
        return health_response(self.health_probe.checks(), [])

    def start_background_work(self):
        pass


# ---------------------------------------------------------------- v2: resilient

class LastKnownGood:
    """Products as last read from redis, served when redis cannot answer."""

    def __init__(self, max_entries=10000):
        self._lock = threading.Lock()
        self._entries = {}
        self._max_entries = max_entries

    def put(self, product_id, product):
        with self._lock:
            if product_id in self._entries or len(self._entries) < self._max_entries:
                self._entries[product_id] = (product, time.time())

    def get(self, product_id):
        with self._lock:
            return self._entries.get(product_id)


class ViewCounter:
    """Counts views in memory and adds them to redis in batches.

    Keeps INCR off the read path, so a product read stays one idempotent round trip.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending = {}

    def add(self, product_id):
        with self._lock:
            self._pending[product_id] = self._pending.get(product_id, 0) + 1

    def pending(self, product_id):
        with self._lock:
            return self._pending.get(product_id, 0)

    def take(self):
        with self._lock:
            taken, self._pending = self._pending, {}
        return taken

    def give_back(self, counts):
        with self._lock:
            for product_id, count in counts.items():
                self._pending[product_id] = self._pending.get(product_id, 0) + count


def transient_redis_errors(operation):
    try:
        return operation()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise TransientError(f"redis {type(exc).__name__}: {exc}") from exc


class ResilientShop:
    def __init__(self, config, errors):
        self.config = config
        self.errors = errors
        pool_args = dict(host=config.redis_host, port=config.redis_port)
        # A cheap read that cannot connect within its own budget is as good as failed.
        read_connect_s = min(config.redis_connect_timeout_s, config.read_deadline_s)
        self.read_redis = redis.Redis(**pool_args, socket_connect_timeout=read_connect_s,
                                      socket_timeout=config.redis_read_timeout_s)
        self.write_redis = redis.Redis(**pool_args, socket_connect_timeout=config.redis_connect_timeout_s,
                                       socket_timeout=config.redis_write_timeout_s)
        breaker = lambda name: CircuitBreaker(name, config.breaker_failures, config.breaker_reset_s)
        # Reads and writes have different budgets, so a read timing out at 150 ms says
        # nothing about a write allowed a full second: each gets its own breaker.
        self.redis_read_breaker = breaker("redis.read")
        self.redis_write_breaker = breaker("redis.write")
        self.inventory_breaker = breaker("inventory")
        self.retry_policy = RetryPolicy(config.retry_attempts, config.retry_base_s, config.retry_cap_s)
        self.products = LastKnownGood()
        self.views = ViewCounter()
        self.health_probe = HealthProbe(config)
        # Stock is fetched alongside the redis read, so a product read waits for the
        # slower of the two budgets, not their sum.
        self.stock_lookups = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="stock")

    # -- dependencies

    def _read_product(self, product_id):
        def attempt():
            pipe = self.read_redis.pipeline(transaction=False)
            pipe.hgetall(f"product:{product_id}")
            pipe.get(f"promo:{product_id}")
            pipe.get(f"views:{product_id}")
            return transient_redis_errors(pipe.execute)

        fields, promo, views = resilience.call(
            attempt, self.redis_read_breaker, self.retry_policy, Deadline(self.config.read_deadline_s),
            idempotent=True, min_try_s=self.config.redis_read_timeout_s)
        return product_from_redis(product_id, fields, promo, views)

    def _store_order(self, order, deadline):
        def attempt():
            pipe = self.write_redis.pipeline(transaction=True)
            pipe.set(order_key(order["idempotency_key"]), json.dumps(order), nx=True, ex=ORDER_KEEP_S)
            pipe.get(order_key(order["idempotency_key"]))
            return transient_redis_errors(pipe.execute)

        # Safe to retry: SET NX under the idempotency key makes a repeated write a no-op.
        _, stored = resilience.call(attempt, self.redis_write_breaker, self.retry_policy, deadline,
                                    idempotent=True, min_try_s=self.config.redis_write_timeout_s)
        return json.loads(stored)

    def _inventory(self, method, path, body, deadline):
        def attempt():
            remaining = deadline.remaining()
            try:
                status, answer = request_json(
                    self.config.inventory_url, method, path, body,
                    min(self.config.http_connect_timeout_s, remaining),
                    min(self.config.http_read_timeout_s, remaining))
            except HttpFailure as exc:
                raise TransientError(str(exc)) from exc
            if status >= 500:
                raise TransientError(f"inventory answered {status}")
            return status, answer

        return resilience.call(attempt, self.inventory_breaker, self.retry_policy, deadline,
                               idempotent=True, min_try_s=0.05)

    # -- routes

    def product(self, request):
        product_id = parse_product_id(request.params["id"])
        stock_lookup = self.stock_lookups.submit(self._stock, product_id)
        degraded = []
        try:
            product = self._read_product(product_id)
            if product is None:
                raise HttpError(404, "unknown product")
            self.products.put(product_id, product)
            as_of = None
        except DependencyUnavailable as exc:
            self.errors.error(f"product read falls back to cache: {exc}")
            cached = self.products.get(product_id)
            if cached is None:
                raise HttpError(503, "product unavailable", {"Retry-After": exc.retry_after_s}) from exc
            product, as_of = cached
            degraded.append("redis")
        self.views.add(product_id)
        product = dict(product, views=product["views"] + self.views.pending(product_id))
        try:
            product["stock"] = stock_lookup.result(timeout=self.config.stock_deadline_s + 0.05)
        except (DependencyUnavailable, concurrent.futures.TimeoutError):
            product["stock"] = None
            degraded.append("inventory")
        product["degraded"] = bool(degraded)
        headers = {}
        if degraded:
            product["degraded_reasons"] = degraded
            if as_of is not None:
                product["cached_at"] = round(as_of, 3)
            headers["X-Degraded"] = "1"
        return Response(200, product, headers)

    def _stock(self, product_id):
        try:
            status, body = self._inventory("GET", f"/stock/{product_id}", None,
                                           Deadline(self.config.stock_deadline_s))
        except DependencyUnavailable as exc:
            self.errors.error(f"stock unknown: {exc}")
            raise
        return body["stock"] if status == 200 else None

    def order(self, request):
        key, product_id, qty = parse_order_request(request)
        # Fail fast before taking stock we could not record.
        if self.redis_write_breaker.state == "open":
            raise HttpError(503, "orders temporarily unavailable (redis breaker open)",
                            {"Retry-After": self.redis_write_breaker.retry_after_s()})
        deadline = Deadline(self.config.order_deadline_s)
        # Deriving the reservation id from the key makes the reservation idempotent, hence retryable.
        reservation_id = "ord-" + hashlib.sha256(key.encode()).hexdigest()[:32]
        try:
            status, reservation = self._inventory(
                "POST", "/reservations", {"product_id": product_id, "qty": qty, "reservation_id": reservation_id},
                deadline)
            raise_for_inventory_answer(status, reservation)
            order = new_order(key, product_id, qty, reservation)
            stored = self._store_order(order, deadline)
        except DependencyUnavailable as exc:
            self.errors.error(f"order failed: {exc}")
            raise HttpError(503, f"order not placed: {exc.dependency} unavailable",
                            {"Retry-After": exc.retry_after_s}) from exc
        if stored["order_id"] == order["order_id"]:
            return Response(201, stored)
        if (stored["product_id"], stored["qty"]) != (product_id, qty):
            raise HttpError(409, "Idempotency-Key already used for a different order")
        return Response(200, stored, {"Idempotent-Replayed": "true"})

    def health(self, request):
        breakers = [self.redis_read_breaker, self.redis_write_breaker, self.inventory_breaker]
        return health_response(self.health_probe.checks(), breakers)

    # -- background

    def start_background_work(self):
        threading.Thread(target=self._flush_views_forever, daemon=True).start()

    def _flush_views_forever(self):
        while True:
            time.sleep(self.config.views_flush_s)
            counts = self.views.take()
            if counts:
                self._flush_views(counts)

    def _flush_views(self, counts):
        def attempt():
            pipe = self.write_redis.pipeline(transaction=False)
            for product_id, count in counts.items():
                pipe.incrby(f"views:{product_id}", count)
            return transient_redis_errors(pipe.execute)

        try:
            resilience.call(attempt, self.redis_write_breaker, self.retry_policy,
                            Deadline(self.config.redis_write_timeout_s), idempotent=False, min_try_s=0)
        except DependencyUnavailable:
            self.views.give_back(counts)  # counts survive an outage; they are only a popularity signal
        except redis.RedisError as exc:
            self.errors.error(f"view counts dropped: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- wiring

def build_router(shop, extra_latency_s=0.0):
    router = Router()
    router.add("GET", r"/products/(?P<id>\d{1,9})", slowed(shop.product, extra_latency_s))
    router.add("POST", r"/orders", slowed(shop.order, extra_latency_s))
    router.add("GET", r"/health", shop.health)
    return router


def slowed(handler, seconds):
    if seconds <= 0:
        return handler

    def slower(request):
        time.sleep(seconds)
        return handler(request)
    return slower


def main():
    config = Config()
    errors = ErrorLog(SERVICE)
    if config.version == "v1":
        shop = NaiveShop(config)
    elif config.version == "v2":
        shop = ResilientShop(config, errors)
    else:
        log(SERVICE, f"API_VERSION must be v1 or v2, not {config.version!r}")
        sys.exit(2)
    shop.start_background_work()
    serve(SERVICE, config.port, build_router(shop, config.extra_latency_s), errors, config.describe())


if __name__ == "__main__":
    main()
