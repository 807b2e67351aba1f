"""IntakeService's ImportDossiers handler (a mixin of IntakeServicer, which sets `pool`,
`temporal`, `reference` and `timers`). Only a responsable calls it (access.py); the
gRPC layer writes the access log and answers a repeated request id."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from entraide.v1 import intake_pb2
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from domain.import_fields import MAX_FILENAME_LENGTH
from kernel import auth
from kernel.db import ScopedPool
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from kernel.timestamps import to_timestamp
from services.intake.importing import reader, rows, store
from services.intake.importing.importer import Importer, Written
from services.intake.people_validation import has_control_characters
from services.intake.validation import invalid
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    ImportStarts,
    LifecycleTimers,
    WorkflowName,
    import_workflow_id,
)


def _filename(raw: str) -> str:
    name = raw.strip()
    if len(name) > MAX_FILENAME_LENGTH or has_control_characters(name):
        raise invalid(
            "filename",
            f"filename is at most {MAX_FILENAME_LENGTH} characters, without control characters",
            f"Le nom du fichier fait au plus {MAX_FILENAME_LENGTH} caractères, sans caractère de contrôle.",
            "INVALID_FORMAT",
        )
    return name


def report(
    checked: rows.Checked, written: Written, *, dry_run: bool, import_id: str
) -> intake_pb2.ImportReport:
    errors = sorted([*checked.errors, *written.conflicts], key=lambda e: e.line)
    answer = intake_pb2.ImportReport(
        import_id=import_id,
        dry_run=dry_run,
        rows=checked.rows,
        accepted=len(checked.accepted) - len(written.conflicts),
        rejected=len({e.line for e in errors}),
        errors=[
            intake_pb2.ImportRowError(
                line=e.line, column=e.column, field=e.field, reason=e.reason, message=e.message
            )
            for e in errors
        ],
        dossiers_created=written.dossiers_created,
        already_imported=written.already_imported,
        persons_created=written.persons_created,
        households_created=written.households_created,
        duplicates=[
            intake_pb2.ImportDuplicate(
                line=d.line, person_id=d.person_id, kind="same_person" if d.same_person else "possible"
            )
            for d in written.duplicates
        ],
        workflows_to_start=written.workflows_to_start,
        past_retention=written.past_retention,
    )
    taken = {e.line for e in written.conflicts}
    if opened := [r.opened_at for r in checked.accepted if r.line not in taken]:
        answer.earliest_opened_at.CopyFrom(to_timestamp(min(opened)))
        answer.latest_opened_at.CopyFrom(to_timestamp(max(opened)))
    return answer


class ImportHandlers:
    """ImportDossiers."""

    pool: ScopedPool
    temporal: Client
    reference: ReferenceData
    timers: LifecycleTimers
    retention_days: int

    async def ImportDossiers(
        self, request: intake_pb2.ImportDossiersRequest, context: Context
    ) -> intake_pb2.ImportReport:
        claims = auth.current()
        filename = _filename(request.filename)
        table = reader.read(request.format, request.content)
        mapping = rows.mapping(
            table.header,
            dict(request.columns),
            [(v.field, v.value, v.code) for v in request.values],
            dict(request.defaults),
            self.reference,
        )
        now = datetime.now(UTC)
        checked = rows.check(table, mapping, self.reference, claims.territories, rows.today_in_paris(now))
        importer = Importer(self.timers, dict(self.reference.closure_outcomes), self.retention_days)
        import_id = "" if request.dry_run else str(uuid.uuid4())
        async with self.pool.acquire() as conn:
            if not import_id:
                written = await importer.run(
                    conn, checked.accepted, actor=claims.subject, import_id=None, now=now
                )
                return report(checked, written, dry_run=True, import_id="")
            territories = sorted({r.territory for r in checked.accepted} or set(claims.territories))
            await store.start_import(
                conn,
                import_id,
                territories,
                claims.subject,
                filename,
                request.format,
                hashlib.sha256(request.content).digest(),
                now,
            )
            written = await importer.run(
                conn, checked.accepted, actor=claims.subject, import_id=import_id, now=now
            )
            answer = report(checked, written, dry_run=False, import_id=import_id)
            await store.finish_import(
                conn,
                import_id,
                rows=answer.rows,
                rejected=answer.rejected,
                dossiers_created=answer.dossiers_created,
                already_imported=answer.already_imported,
                persons_created=answer.persons_created,
                households_created=answer.households_created,
                now=datetime.now(UTC),
            )
        if answer.workflows_to_start:
            await self._start_import_workflow(import_id, territories)
        return answer

    async def _start_import_workflow(self, import_id: str, territories: list[str]) -> None:
        """Hands the open dossiers to ImportWorkflow (durable: once started, every one of
        them gets its workflow). Temporal down: UNAVAILABLE; the rows are written, and
        sending the file again starts it then."""
        await self.temporal.start_workflow(
            WorkflowName.IMPORT,
            ImportStarts(import_id=import_id, territories=territories),
            id=import_workflow_id(import_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
