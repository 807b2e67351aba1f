"""Every schema's migrations, once, as the schema owner: the command a deployment runs
before rolling out a new version (the Kubernetes migrations Job, a release script).

    ENTRAIDE_MIGRATION_DATABASE_URL=… python -m services.migrate

Intake, referral and reporting (each with the access log's schema and the kernel's
messaging tables first), then the console's. Each service also migrates at its start
under the same advisory lock, so after this command that step finds nothing to do.
"""

from __future__ import annotations

import asyncio

from kernel.runtime import ServiceSpec, migrate
from kernel.settings import Settings
from services.console.app import migrate as migrate_console
from services.intake.service import SPEC as INTAKE
from services.referral.service import SPEC as REFERRAL
from services.reporting.service import SPEC as REPORTING

SERVICES: tuple[ServiceSpec, ...] = (INTAKE, REFERRAL, REPORTING)


async def migrate_all(settings: Settings) -> list[str]:
    """Applies what is pending, service by service; the schemas, in order."""
    done = []
    for spec in SERVICES:
        await migrate(spec, settings)
        print(f"migrated {spec.schema}", flush=True)
        done.append(spec.schema)
    await migrate_console(settings)
    print("migrated console", flush=True)
    return [*done, "console"]


def main() -> None:
    asyncio.run(migrate_all(Settings.from_env()))


if __name__ == "__main__":
    main()
