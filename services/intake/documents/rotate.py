"""Re-seals every document's data key with the deployment's current document key:

    ENTRAIDE_DOCUMENT_KEYS=d2:<new>,d1:<old> DATABASE_URL=... python -m services.intake.documents.rotate

The documents' bytes are not touched (each has its own data key); once no row names the
old key id (`SELECT DISTINCT key_id FROM intake.documents`), the old key can go.
Batches of 200, one transaction each; safe to run again or beside the services."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping

from kernel import reference
from kernel.db import Pool, create_pool, system_scope
from services.intake.documents.crypto import DocumentKeys, keys_from_env
from services.intake.schema import SCHEMA

BATCH = 200


async def rotate(pool: Pool, keys: DocumentKeys, territories: list[str]) -> int:
    """Returns how many data keys were re-sealed."""
    done = 0
    while True:
        async with system_scope(pool, territories) as conn:
            async with conn.transaction():
                rows = await conn.fetch(
                    f"""SELECT document_id, key_id, wrapped_key FROM {SCHEMA}.documents
                         WHERE key_id <> $1 AND deleted_at IS NULL
                         ORDER BY document_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
                    keys.current,
                    BATCH,
                )
                for row in rows:
                    document_id = str(row["document_id"])
                    data_key = keys.unwrap(document_id, row["key_id"], bytes(row["wrapped_key"]))
                    await conn.execute(
                        f"UPDATE {SCHEMA}.documents SET key_id = $2, wrapped_key = $3 WHERE document_id = $1",
                        row["document_id"],
                        keys.current,
                        keys.wrap(document_id, data_key),
                    )
        done += len(rows)
        if len(rows) < BATCH:
            return done


async def main_async(env: Mapping[str, str]) -> int:
    pool = await create_pool(env["DATABASE_URL"], max_size=2)
    try:
        count = await rotate(pool, keys_from_env(env), sorted(reference.load(env).territories))
    finally:
        await pool.close()
    print(f"document keys re-sealed with {keys_from_env(env).current}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async(os.environ)))
