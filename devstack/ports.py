"""Ports of a stack started beside others on one machine (tests, the fault matrix): the
names of every port setting, and free ports chosen where the kernel will not reuse them."""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

SERVER_PORTS = ("postgres", "nats", "nats_monitor", "temporal", "temporal_ui")
APP_PORTS = (
    "intake",
    "referral",
    "reporting",
    "intake_metrics",
    "referral_metrics",
    "reporting_metrics",
    "workflows_metrics",
    "codec",
    "console",
    "mail_catcher",
    "sms_standin",
)


_taken: set[int] = set()


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range: a port the kernel hands out
    (bind to port 0) may meanwhile become the source port of an outgoing connection, and a
    server started on it later fails with "address already in use" (seen with Temporal)."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in _taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError("no free port found below the ephemeral range")


# Every ENTRAIDE_<NAME>_PORT a whole local stack listens on.
STACK_PORTS = SERVER_PORTS + APP_PORTS
