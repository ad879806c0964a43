"""Canonical names of the images the harness needs, shared by `chaos doctor` and `scripts/setup.sh`.

The setup script reads these through `python -m chaos.images --shell`, so a name changes in
one place only.
"""

from __future__ import annotations

import shlex
import sys

TOXIPROXY_VERSION = "2.12.0"
TOXIPROXY_IMAGE = f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}"
TOXIPROXY_API_PORT = 8474
TOXIPROXY_GO_MODULE = "github.com/Shopify/toxiproxy/v2"

# Docker Compose, the reference implementation of the Compose Specification: the harness reads compose
# files through its `config`. Where no `docker compose` v2+ is installed, setup builds this version from
# the Go module proxy (a module with replace/exclude directives: built as the main module, not `go install`).
COMPOSE_VERSION = "5.6.0"
COMPOSE_GO_MODULE = "github.com/docker/compose/v5"

BASE_IMAGE = "chaos-base:bookworm"
# The base plus libfaketime: short-lived fault helpers (iptables in a target's network
# namespace, the clock volume) run from it. Built by setup FROM the base image.
HELPER_IMAGE = "chaos-helper:bookworm"
# libfaketime from the upstream snapshot Debian trixie packages: bookworm's 0.9.10 breaks
# sleeps in Python targets (see docs/architecture.md, "Clock skew"). Built from the source
# tarball (sha256 pinned) by setup; the helper image carries it at FAKETIME_LIBRARY.
FAKETIME_SOURCE_VERSION = "0.9.10+2024-06-05+gba9ed5b2"
FAKETIME_SOURCE_SUITE = "trixie"
FAKETIME_ORIG_SHA256 = "879597d9b3469b062314dbac70b2dd3b393053086772999ed94401b8ddb412de"
FAKETIME_LIBRARY = "/usr/local/lib/chaos/libfaketime.so.1"
BASE_SUITE = "bookworm"
# postgresql-15, nginx and python3-psycopg2 are for the notes sample system (targets/notes);
# they are in the base so its images build offline, like the shop's redis.
BASE_PACKAGES = (
    "python3", "python3-redis", "redis-server", "iptables", "iproute2", "procps",
    "postgresql-15", "nginx", "python3-psycopg2",
)
# Label on the base image holding a hash of its recipe; setup rebuilds when it differs.
RECIPE_LABEL = "chaos.recipe"

# The proxy of an HTTP link (`protocol: http`): chaos-base plus mitmproxy, used as a library in reverse mode
# with the harness's addon (chaos/httpproxy). mitmproxy 11.0 is the last line that runs on bookworm's
# Python 3.11. Built by setup FROM the base image, from wheels fetched with pip.
MITMPROXY_VERSION = "11.0.2"
HTTP_PROXY_IMAGE = "chaos-http-proxy:bookworm"
HTTP_PROXY_CONTROL_PORT = 8475  # the addon's control endpoint: rules in, touched requests out
HTTP_PROXY_HOME = "/opt/chaos-http"  # mitmproxy's packages under lib/, the addon copied in at start

SHOP_IMAGES = (
    "chaos-shop-redis:1",
    "chaos-shop-inventory:1",
    "chaos-shop-api:v1",
    "chaos-shop-api:v2",
)

REQUIRED_IMAGES = (TOXIPROXY_IMAGE, BASE_IMAGE, HELPER_IMAGE, HTTP_PROXY_IMAGE, *SHOP_IMAGES)


def shell_assignments() -> str:
    """The constants as `NAME=value` lines a shell can `eval`."""
    values = {
        "TOXIPROXY_VERSION": TOXIPROXY_VERSION,
        "TOXIPROXY_IMAGE": TOXIPROXY_IMAGE,
        "TOXIPROXY_API_PORT": str(TOXIPROXY_API_PORT),
        "TOXIPROXY_GO_MODULE": TOXIPROXY_GO_MODULE,
        "COMPOSE_VERSION": COMPOSE_VERSION,
        "COMPOSE_GO_MODULE": COMPOSE_GO_MODULE,
        "BASE_IMAGE": BASE_IMAGE,
        "HELPER_IMAGE": HELPER_IMAGE,
        "FAKETIME_SOURCE_VERSION": FAKETIME_SOURCE_VERSION,
        "FAKETIME_SOURCE_SUITE": FAKETIME_SOURCE_SUITE,
        "FAKETIME_ORIG_SHA256": FAKETIME_ORIG_SHA256,
        "FAKETIME_LIBRARY": FAKETIME_LIBRARY,
        "BASE_SUITE": BASE_SUITE,
        "BASE_PACKAGES": ",".join(BASE_PACKAGES),
        "RECIPE_LABEL": RECIPE_LABEL,
        "SHOP_IMAGES": " ".join(SHOP_IMAGES),
        "MITMPROXY_VERSION": MITMPROXY_VERSION,
        "HTTP_PROXY_IMAGE": HTTP_PROXY_IMAGE,
        "HTTP_PROXY_HOME": HTTP_PROXY_HOME,
    }
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


if __name__ == "__main__":
    if sys.argv[1:] != ["--shell"]:
        sys.exit("usage: python -m chaos.images --shell")
    sys.stdout.write(shell_assignments())
