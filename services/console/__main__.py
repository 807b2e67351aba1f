"""`python -m services.console`: the web console under uvicorn. ENTRAIDE_CONSOLE_WORKERS
processes share the port (default 1; sessions live in PostgreSQL, so any process, here
or on another machine behind a load balancer, serves any request)."""

from __future__ import annotations

import uvicorn

from kernel.logs import configure_logging
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings.from_env()
    configure_logging("console", settings.env.get("ENTRAIDE_LOG_LEVEL", "INFO"))
    uvicorn.run(
        "services.console.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
