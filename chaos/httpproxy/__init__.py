"""HTTP links: a mitmproxy container per link (``server.py``, run inside it), the rules it applies
(``rules.py``, pure, shared by both sides) and the harness's client of its control endpoint (``client.py``)."""

from pathlib import Path

# The files copied into each HTTP link's container when it is made (the image holds mitmproxy only).
PROXY_FILES = (Path(__file__).parent / "rules.py", Path(__file__).parent / "server.py")
