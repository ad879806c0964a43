"""DNS faults' server side: the rules (``rules``, pure, shared with the harness), the dnslib server run in a
container of the run (``server``), and the harness's client of its control endpoint (``client``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SERVER_FILES = (HERE / "server.py", HERE / "rules.py")  # copied into the DNS container with dnslib itself
HOME = "/opt/chaos-dns"  # where they go (dnslib under lib/)
CONTROL_PORT = 8053
CONF_DIR = "/chaos-dns"  # the DNS container's volume: the resolv.conf its service mounts
