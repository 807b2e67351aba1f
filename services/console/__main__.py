"""`python -m services.console`: the web console (uvicorn, one process; run several
behind a load balancer — sessions live in PostgreSQL)."""

from __future__ import annotations

import uvicorn

from kernel.logs import configure_logging
from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings.from_env()
    configure_logging("console", settings.env.get("ENTRAIDE_LOG_LEVEL", "INFO"))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
