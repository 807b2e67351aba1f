"""A NATS JetStream cluster on loopback: N nodes of the pinned nats-server, each with
its own ports and store, routed to the others, rendered from the local stack's template
(same users, `sync_interval: always`).

For the scale-out proofs: streams with 3 replicas survive the death of a node, their
leader included. `url` lists every node (with the services' credentials) so a client
goes to another node when its own dies (kernel.messaging.server_urls).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from devstack import partner_nats, processes
from devstack.ports import free_port
from devstack.servers import nats_answers, nats_credentials, render_nats_conf, server_binary
from kernel import messaging

CLUSTER_NAME = "entraide"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Node:
    name: str  # server_name, process name and store folder
    port: int
    cluster_port: int
    monitor_port: int


class NatsCluster:
    """`size` nodes under `state_dir`; start(), kill(name), restart(name), stop()."""

    def __init__(self, state_dir: Path, size: int = 3) -> None:
        self.state_dir = state_dir.resolve()
        self.nodes = [Node(f"nats-{i}", free_port(), free_port(), free_port()) for i in range(1, size + 1)]
        password = nats_credentials(self.state_dir)[partner_nats.SERVICE_USER]
        self._user = f"{partner_nats.SERVICE_USER}:{quote(password, safe='')}"

    def node_url(self, node: Node) -> str:
        return f"nats://{self._user}@127.0.0.1:{node.port}"

    @property
    def url(self) -> str:
        """Every node, comma-separated, as NATS_URL takes them."""
        return ",".join(self.node_url(node) for node in self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def start(self) -> None:
        for node in self.nodes:
            self._start(node)
        for node in self.nodes:
            self._wait(node)
        asyncio.run(self._wait_jetstream())

    def kill(self, name: str) -> None:
        """SIGKILL (a crash: no leadership handed over, nothing flushed beyond the fsyncs)."""
        pid = processes.is_running(self.state_dir, name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while processes.is_running(self.state_dir, name) is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, name: str) -> None:
        node = self.node(name)
        self._start(node)
        self._wait(node)

    def stop(self) -> None:
        for node in self.nodes:
            processes.stop_process(self.state_dir, node.name)

    def _start(self, node: Node) -> None:
        routes = ", ".join(
            f'"nats-route://127.0.0.1:{other.cluster_port}"' for other in self.nodes if other != node
        )
        cluster = (
            f'cluster {{\n  name: {CLUSTER_NAME}\n  listen: "127.0.0.1:{node.cluster_port}"\n'
            f"  routes: [{routes}]\n}}\n"
        )
        conf = render_nats_conf(
            self.state_dir, self.state_dir / node.name, node.name, node.port, node.monitor_port, cluster
        )
        processes.start_process(
            self.state_dir, node.name, [str(server_binary("nats-server")), "-c", str(conf)], os.environ
        )

    def _wait(self, node: Node) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not nats_answers(self.node_url(node)):
            if processes.is_running(self.state_dir, node.name) is None or time.monotonic() > deadline:
                log = processes.log_file(self.state_dir, node.name)
                raise RuntimeError(f"{node.name} did not start; log:\n{processes.tail(log, 20)}")
            time.sleep(0.1)

    async def _wait_jetstream(self) -> None:
        """Until the cluster has elected its JetStream meta leader (account info answers)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        nc = await messaging.connect(self.url, "nats-cluster-check")
        try:
            js = nc.jetstream()
            while True:
                try:
                    await js.account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()


async def stream_leader(url: str, stream: str) -> str:
    """The name of the node leading `stream`."""
    nc = await messaging.connect(url, "nats-cluster-leader")
    try:
        info = await nc.jetstream().stream_info(stream)
        assert info.cluster is not None and info.cluster.leader is not None, "not a clustered stream"
        return info.cluster.leader
    finally:
        await nc.close()
