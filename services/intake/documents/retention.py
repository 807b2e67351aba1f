"""The retention run's part for documents (ActivityName.PURGE_DOCUMENTS, called by
RetentionWorkflow): documents past their `delete_after` are deleted (their data key
erased), then the store's files of every deleted document are removed. Batches, one
transaction each; returns how many documents were deleted now."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from domain.planning import PARIS
from kernel.db import Pool, system_scope
from kernel.logs import get_logger
from kernel.reference import ReferenceData
from services.intake.documents import store
from services.intake.documents.storage import DocumentStore
from workflows.contracts import ActivityName

log = get_logger("retention")
BATCH = 200


class DocumentRetention:
    def __init__(self, pool: Pool, reference: ReferenceData, files: DocumentStore) -> None:
        self.pool = pool
        self.territories = sorted(reference.territories)
        self.files = files

    @activity.defn(name=ActivityName.PURGE_DOCUMENTS)
    async def purge_documents(self) -> int:
        now = datetime.now(UTC)
        deleted = 0
        while True:
            async with system_scope(self.pool, self.territories) as conn:
                async with conn.transaction():
                    done = await store.shred_due(conn, now.astimezone(PARIS).date(), now, BATCH)
            deleted += done
            if done < BATCH:
                break
        while True:
            async with system_scope(self.pool, self.territories) as conn:
                async with conn.transaction():
                    done = await store.purge_files(conn, self.files, now, BATCH)
            if activity.in_activity():
                activity.heartbeat(deleted)
            if done < BATCH:
                break
        log.info("retention: documents deleted", extra={"count": deleted})
        return deleted
