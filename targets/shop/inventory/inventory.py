"""Inventory service: product stock and time-limited reservations, kept in redis.

Reservation expiry is judged on this service's own wall clock (time.time()),
stored as an absolute timestamp rather than a redis TTL, so that skewing this
container's clock visibly changes when reservations lapse.
"""

import os
import threading
import time
import uuid

import redis

from shophttp import ErrorLog, HttpError, Response, Router, env_float, env_int, log, serve

SERVICE = "inventory"
PRODUCT_COUNT = 100
INITIAL_STOCK = 1000
MAX_QTY = 10
EXPIRY_INDEX = "reservations:by-expiry"
EXPIRED_RECORD_KEEP_S = 3600

ADJECTIVES = ["Sturdy", "Compact", "Classic", "Deluxe", "Everyday", "Rugged", "Slim", "Bright", "Quiet", "Smart"]
NOUNS = ["Kettle", "Backpack", "Lamp", "Headphones", "Mug", "Chair", "Umbrella", "Notebook", "Blender", "Jacket"]
CATEGORIES = ["kitchen", "travel", "home", "audio", "kitchen", "furniture", "outdoor", "office", "kitchen", "apparel"]

RESERVE_SCRIPT = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {'exists'}
end
local stock = redis.call('GET', KEYS[1])
if not stock then
  return {'unknown'}
end
local qty = tonumber(ARGV[3])
if tonumber(stock) < qty then
  return {'insufficient', stock}
end
local price = redis.call('GET', KEYS[5]) or redis.call('HGET', KEYS[2], 'price_cents') or '0'
redis.call('DECRBY', KEYS[1], qty)
redis.call('HSET', KEYS[3], 'product_id', ARGV[2], 'qty', ARGV[3], 'expires_at', ARGV[4],
           'state', 'active', 'unit_price_cents', price)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
return {'reserved', price}
"""

# Gives the stock back only if the reservation is still active and due on the caller's clock.
RELEASE_SCRIPT = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'active' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local expires_at = tonumber(redis.call('HGET', KEYS[1], 'expires_at'))
if expires_at > tonumber(ARGV[2]) then
  return 0
end
redis.call('INCRBY', KEYS[3], redis.call('HGET', KEYS[1], 'qty'))
redis.call('HSET', KEYS[1], 'state', 'expired')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def catalogue_entry(product_id):
    index = product_id - 1
    noun = index % len(NOUNS)
    return {
        "name": f"{ADJECTIVES[(index // len(NOUNS)) % len(ADJECTIVES)]} {NOUNS[noun]}",
        "category": CATEGORIES[noun],
        "price_cents": 499 + (index * 737) % 9500,
    }


def promo_price(product_id):
    """Every seventh product is on promotion."""
    if product_id % 7:
        return None
    return catalogue_entry(product_id)["price_cents"] * 80 // 100


def reservation_key(reservation_id):
    return f"reservation:{reservation_id}"


def parse_product_id(text):
    product_id = int(text)
    if product_id < 1:
        raise HttpError(404, "unknown product")
    return product_id


class Inventory:
    def __init__(self, client, ttl_s, clock=time.time):
        self.redis = client
        self.ttl_s = ttl_s
        self.clock = clock
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    def seed(self):
        """Create the catalogue where it is missing; never overwrite live stock."""
        pipe = self.redis.pipeline(transaction=False)
        for product_id in range(1, PRODUCT_COUNT + 1):
            for field, value in catalogue_entry(product_id).items():
                pipe.hsetnx(f"product:{product_id}", field, value)
            pipe.set(f"stock:{product_id}", INITIAL_STOCK, nx=True)
            promo = promo_price(product_id)
            if promo is not None:
                pipe.set(f"promo:{product_id}", promo, nx=True)
        pipe.execute()

    def stock(self, product_id):
        value = self.redis.get(f"stock:{product_id}")
        if value is None:
            raise HttpError(404, "unknown product")
        return {"product_id": product_id, "stock": int(value)}

    def reserve(self, product_id, qty, reservation_id):
        expires_at = round(self.clock() + self.ttl_s, 3)
        keys = [f"stock:{product_id}", f"product:{product_id}", reservation_key(reservation_id),
                EXPIRY_INDEX, f"promo:{product_id}"]
        outcome = self._reserve(keys=keys, args=[reservation_id, product_id, qty, f"{expires_at:.3f}"])
        status = outcome[0].decode()
        if status == "unknown":
            raise HttpError(404, "unknown product")
        if status == "insufficient":
            raise HttpError(409, f"insufficient stock: {int(outcome[1])} left, {qty} requested")
        if status == "exists":
            existing = self.reservation(reservation_id)
            if existing["product_id"] != product_id or existing["qty"] != qty:
                raise HttpError(422, "reservation_id already used for a different request")
            return False, existing
        return True, {"reservation_id": reservation_id, "product_id": product_id, "qty": qty,
                      "expires_at": expires_at, "unit_price_cents": int(outcome[1]), "state": "active"}

    def reservation(self, reservation_id):
        fields = self.redis.hgetall(reservation_key(reservation_id))
        if not fields:
            raise HttpError(404, "unknown reservation")
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        now = self.clock()
        expires_at = float(fields["expires_at"])
        state = fields["state"]
        if state == "active" and expires_at <= now:
            state = "expired"  # due but not yet swept; the stock comes back on the next sweep
        return {"reservation_id": reservation_id, "product_id": int(fields["product_id"]),
                "qty": int(fields["qty"]), "expires_at": expires_at,
                "unit_price_cents": int(fields["unit_price_cents"]), "state": state, "now": round(now, 3)}

    def sweep(self, batch=500):
        """Return the stock of every reservation that is due on this service's clock."""
        now = self.clock()
        due = self.redis.zrangebyscore(EXPIRY_INDEX, "-inf", now, start=0, num=batch)
        released = 0
        for raw_id in due:
            reservation_id = raw_id.decode()
            product_id = self.redis.hget(reservation_key(reservation_id), "product_id")
            if product_id is None:
                self.redis.zrem(EXPIRY_INDEX, reservation_id)
                continue
            keys = [reservation_key(reservation_id), EXPIRY_INDEX, f"stock:{product_id.decode()}"]
            released += self._release(keys=keys, args=[reservation_id, now, EXPIRED_RECORD_KEEP_S])
        return released


def parse_reservation_request(data):
    product_id, qty = data.get("product_id"), data.get("qty", 1)
    if not isinstance(product_id, int) or isinstance(product_id, bool) or product_id < 1:
        raise HttpError(400, "product_id must be a positive integer")
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
        raise HttpError(400, f"qty must be an integer from 1 to {MAX_QTY}")
    reservation_id = data.get("reservation_id") or uuid.uuid4().hex
    if not isinstance(reservation_id, str) or len(reservation_id) > 128:
        raise HttpError(400, "reservation_id must be a string of at most 128 characters")
    return product_id, qty, reservation_id


def build_router(inventory, health_redis, ready):
    router = Router()

    def get_stock(request):
        return Response(200, inventory.stock(parse_product_id(request.params["id"])))

    def post_reservation(request):
        created, reservation = inventory.reserve(*parse_reservation_request(request.json()))
        return Response(201 if created else 200, reservation)

    def get_reservation(request):
        return Response(200, inventory.reservation(request.params["id"]))

    def health(request):
        if not ready.is_set():
            return Response(503, {"status": "unhealthy", "checks": {"seeded": False}})
        try:
            health_redis.ping()
        except redis.RedisError as exc:
            return Response(503, {"status": "unhealthy", "checks": {"redis": f"{type(exc).__name__}"}})
        return Response(200, {"status": "healthy", "checks": {"redis": "ok"}})

    router.add("GET", r"/stock/(?P<id>\d{1,9})", unavailable_on_redis_error(get_stock))
    router.add("POST", r"/reservations", unavailable_on_redis_error(post_reservation))
    router.add("GET", r"/reservations/(?P<id>[A-Za-z0-9_.:-]{1,128})", unavailable_on_redis_error(get_reservation))
    router.add("GET", r"/health", health)
    return router


def unavailable_on_redis_error(handler):
    def guarded(request):
        try:
            return handler(request)
        except redis.RedisError as exc:
            raise HttpError(503, f"redis unavailable: {type(exc).__name__}", {"Retry-After": "1"}) from exc
    return guarded


def seed_until_done(inventory, ready, errors):
    while True:
        try:
            inventory.seed()
            ready.set()
            log(SERVICE, f"catalogue seeded ({PRODUCT_COUNT} products, missing entries only)")
            return
        except redis.RedisError as exc:
            errors.error(f"seeding failed, retrying: {type(exc).__name__}: {exc}")
            time.sleep(0.5)


def sweep_forever(inventory, interval_s, errors, stop):
    while not stop.wait(interval_s):
        try:
            inventory.sweep()
        except redis.RedisError as exc:
            errors.error(f"sweep failed: {type(exc).__name__}: {exc}")


def main():
    host, port = os.environ.get("REDIS_HOST", "redis"), env_int("REDIS_PORT", 6379)
    ttl_s = env_float("RESERVATION_TTL_S", 30)
    sweep_s = env_float("SWEEP_INTERVAL_S", 1.0)
    listen_port = env_int("PORT", 8081)
    errors = ErrorLog(SERVICE)
    client = redis.Redis(host=host, port=port, socket_connect_timeout=3, socket_timeout=2)
    health_redis = redis.Redis(host=host, port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    inventory = Inventory(client, ttl_s)
    ready = threading.Event()
    stop = threading.Event()
    threading.Thread(target=seed_until_done, args=(inventory, ready, errors), daemon=True).start()
    threading.Thread(target=sweep_forever, args=(inventory, sweep_s, errors, stop), daemon=True).start()
    serve(SERVICE, listen_port, build_router(inventory, health_redis, ready), errors,
          f"redis={host}:{port} reservation_ttl_s={ttl_s} sweep_interval_s={sweep_s}")
    stop.set()


if __name__ == "__main__":
    main()
