"""One instance for bench.scale_out, in its own process: the workflows worker's dossier
worker and intake's activity worker, as bench.lifecycle runs them (entraide_workers),
with their own pool and Temporal client. Configured by the environment (Settings);
prints READY once both poll, stops on SIGTERM.

    DATABASE_URL=… TEMPORAL_ADDRESS=… ENTRAIDE_PAYLOAD_KEYS=… python -m bench.lifecycle_instance
"""

from __future__ import annotations

import asyncio
import signal

from bench.lifecycle import entraide_workers
from kernel import db
from kernel import temporal as temporal_kernel
from kernel.settings import Settings

READY = "READY"


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    pool = await db.create_pool(settings.database_url, role=settings.db_role)
    try:
        client = await temporal_kernel.connect(settings)
        dossiers, activities = entraide_workers(client, pool, settings)
        async with dossiers, activities:
            print(READY, flush=True)
            await stop.wait()
    finally:
        await pool.close()


def main() -> None:
    asyncio.run(serve(Settings.from_env()))


if __name__ == "__main__":
    main()
