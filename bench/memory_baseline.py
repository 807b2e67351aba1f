"""The bare baseline of bench.memory: what any process built on the same libraries pays
before our code adds anything.

    python -m bench.memory_baseline   # grpcio server, Temporal worker, asyncpg, nats

The same libraries as a service process, each doing the least it can while
connected: a Temporal client and a sandboxed workflow worker polling a queue of its own
(one trivial workflow; Rust core, default options), an asyncpg pool (1 connection, as
kernel.db's min_size), a NATS connection with JetStream, and a grpc.aio server with the
health service. Reads DATABASE_URL, NATS_URL, TEMPORAL_ADDRESS; writes ENTRAIDE_READY_FILE
once everything is connected; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

from temporalio import workflow


@workflow.defn(name="MemoryBaselineIdle")
class IdleWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


async def _stack() -> None:
    import asyncpg  # type: ignore[import-untyped, unused-ignore]
    import grpc
    import nats
    from grpc_health.v1 import health_pb2_grpc
    from grpc_health.v1._async import HealthServicer
    from temporalio.client import Client
    from temporalio.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"])
    worker = Worker(client, task_queue=f"memory-baseline-{uuid.uuid4().hex[:8]}", workflows=[IdleWorkflow])
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=10)
    nc = await nats.connect(os.environ["NATS_URL"])
    await nc.jetstream().account_info()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with worker:
            await asyncio.to_thread(Path(os.environ["ENTRAIDE_READY_FILE"]).write_text, "ready\n")
            await stop.wait()
    finally:
        await server.stop(1)
        await nc.close()
        await pool.close()


def main() -> None:
    asyncio.run(_stack())


if __name__ == "__main__":
    main()
