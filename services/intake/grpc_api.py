"""IntakeService gRPC handlers: validate, then go through the dossier's workflow for
changes; read from intake's tables."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from entraide.v1 import intake_pb2, intake_pb2_grpc, planning_pb2
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.import_fields import FIELD_LABELS, TEMPLATE_HEADERS
from domain.labels_fr import (
    CONSENT_CHANNEL_LABELS,
    CONSENT_KIND_LABELS,
    REFERRAL_REASON_LABELS,
    REFERRAL_STATUS_LABELS,
    STAGE_LABELS,
    STEP_KIND_LABELS,
    TASK_KIND_LABELS,
    VISIBILITY_LABELS,
)
from domain.vocabulary import (
    APPOINTMENT_TASK_KINDS,
    REFERRAL_OUTCOMES,
    REFERRAL_REASONS,
    TASK_KIND_OF_REFERRAL_STATUS,
    TASK_KIND_OF_STEP,
    ConsentChannel,
    ConsentKind,
    NoteKind,
    ReferralStatus,
    Stage,
    StepKind,
    TaskKind,
    Visibility,
)
from kernel import auth, idempotency
from kernel.db import Connection, ScopedPool
from kernel.errors import AlreadyExists, FailedPrecondition, NotFound
from kernel.grpc_server import Context, remaining
from kernel.reference import ReferenceData, Site
from kernel.temporal import (
    domain_error_from,
    no_worker,
    run_update,
    settle_start,
)
from kernel.timestamps import to_timestamp
from services.intake import access, caseload, persons, repository, validation
from services.intake.acceptance import OPENINGS
from services.intake.aides import store as aid_store
from services.intake.aides import tasks as aid_tasks
from services.intake.collective import timeline as collective_timeline
from services.intake.importing.api import ImportHandlers
from services.intake.legacy_sites import LEGACY_PREFIX, site_label
from services.intake.notices import tasks as notice_tasks
from services.intake.people_api import PeopleHandlers
from services.intake.rights_api import RightsHandlers
from services.intake.validation import capitalised
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    AgentInput,
    AssignInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    DossierView,
    FollowUpInput,
    InterviewInput,
    LifecycleTimers,
    ReopenInput,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow
from workflows.retention import DEFAULT_RETENTION_DAYS


def dossier_message(row: asyncpg.Record, sites: Mapping[str, Site]) -> intake_pb2.Dossier:
    return intake_pb2.Dossier(
        dossier_id=str(row["dossier_id"]),
        territory=row["territory"],
        site=row["site"],
        site_label=site_label(row["site"], row["legacy_site_label"], sites),
        motifs=list(row["motifs"]),
        arrival_channel=row["arrival_channel"],
        urgent=row["urgent"],
        stage=row["stage"],
        opened_at=to_timestamp(row["opened_at"]),
        person_id=str(row["person_id"] or ""),
        household_id=str(row["household_id"] or ""),
        assigned_agent=row["assigned_agent"],
        outcome=row["outcome"],
        updated_at=to_timestamp(row["updated_at"]),
        cycle=row["cycle"],
        escalated=row["escalated"],
        reminded=row["reminded_at"] is not None,
        closure_proposed=row["closure_proposed"],
        next_due_at=to_timestamp(row["next_due_at"]) if row["next_due_at"] is not None else None,
        next_due_kind=row["next_due_kind"],
        overdue=row["overdue"],
    )


def site_message(site: Site) -> planning_pb2.Site:
    return planning_pb2.Site(
        code=site.code,
        label=site.label,
        territory=site.territory,
        address=site.address,
        rooms=[planning_pb2.Room(code=r.code, label=r.label) for r in site.rooms],
    )


def task_message(row: asyncpg.Record) -> intake_pb2.Task:
    kind = (
        TASK_KIND_OF_REFERRAL_STATUS[row["referral_status"]]
        if row["step_kind"] == StepKind.REFERRAL
        else TaskKind(row["step_kind"])
        if row["step_kind"] in APPOINTMENT_TASK_KINDS
        else TASK_KIND_OF_STEP[row["step_kind"]]
    )
    return intake_pb2.Task(
        dossier_id=str(row["dossier_id"]),
        kind=kind.value,
        at=to_timestamp(row["at"]),
        territory=row["territory"],
        stage=row["stage"],
        urgent=row["urgent"],
        assigned_agent=row["assigned_agent"],
        referral_id=str(row["referral_id"] or ""),
        partner_name=row["partner_name"] or "",
        step=row["step"],
    )


def note_message(row: asyncpg.Record) -> intake_pb2.Note:
    return intake_pb2.Note(
        note_id=str(row["note_id"]),
        kind=row["kind"],
        author=row["author"],
        at=to_timestamp(row["at"]),
        text=row["body"],
        visibility=row["visibility"],
        step=row["step"],
        erased_at=to_timestamp(row["erased_at"]) if row["erased_at"] is not None else None,
    )


def dossier_timeline_message(
    row: asyncpg.Record,
    entries: Sequence[asyncpg.Record],
    collective: Sequence[asyncpg.Record],
    notes: Sequence[asyncpg.Record],
    deadlines: Sequence[intake_pb2.Deadline],
    sites: Mapping[str, Site],
) -> intake_pb2.DossierTimeline:
    """The timeline message from its rows (GetDossierTimeline; bench.read_path's bare server)."""
    by_step = {n["step"]: note_message(n) for n in notes}
    return intake_pb2.DossierTimeline(
        dossier=dossier_message(row, sites),
        entries=collective_timeline.merged(
            [
                (
                    e["at"],
                    intake_pb2.TimelineEntry(
                        at=to_timestamp(e["at"]),
                        kind=e["kind"],
                        stage=e["stage"],
                        actor=e["actor"],
                        summary=e["summary"],
                        step=e["step"],
                        note=by_step.get(e["step"]),
                    ),
                )
                for e in entries
            ],
            collective,
        ),
        interviews=[
            intake_pb2.Interview(
                interview_id=n.note_id, author=n.author, at=n.at, notes=n.text, visibility=n.visibility
            )
            for n in by_step.values()
            if n.kind == NoteKind.INTERVIEW
        ],
        notes=list(by_step.values()),
        deadlines=list(deadlines),
    )


def _same_request(row: asyncpg.Record, spec: DossierSpec) -> bool:
    # A dossier opened when sites were free text (an "ancien-…" code since migration 012)
    # cannot be compared on its site: the request that opened it named it in words.
    site = spec.site if row["site"].startswith(LEGACY_PREFIX) else row["site"]
    return (row["territory"], site, list(row["motifs"]), row["arrival_channel"], row["urgent"]) == (
        spec.territory,
        spec.site,
        spec.motifs,
        spec.arrival_channel,
        spec.urgent,
    )


class IntakeServicer(PeopleHandlers, RightsHandlers, ImportHandlers, intake_pb2_grpc.IntakeServiceServicer):
    def __init__(
        self,
        pool: ScopedPool,
        temporal: Client,
        reference: ReferenceData,
        timers: LifecycleTimers,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.reference = reference
        self.timers = timers
        self.retention_days = retention_days

    # ---- opening and reading -------------------------------------------------------
    async def OpenDossier(
        self, request: intake_pb2.OpenDossierRequest, context: Context
    ) -> intake_pb2.OpenDossierResponse:
        spec = validation.open_dossier_spec(request, self.reference, self.timers)
        auth.current().require_territory(spec.territory)
        spec.opened_by = auth.current().subject
        async with self.pool.acquire() as conn:
            if spec.person_id and not await persons.person_exists(conn, spec.person_id):
                raise NotFound(
                    "no person with this person_id (or it was merged into another one)",
                    fr="Aucune personne ne porte cet identifiant (ou sa fiche a été fusionnée"
                    " avec une autre) : vérifiez l'identifiant de la personne.",
                    reason="PERSON_NOT_FOUND",
                    field="person_id",
                )
            if spec.household_id and not await persons.household_exists(conn, spec.household_id):
                raise NotFound(
                    "no household with this household_id",
                    fr="Aucun foyer ne porte cet identifiant : vérifiez l'identifiant du foyer.",
                    reason="HOUSEHOLD_NOT_FOUND",
                    field="household_id",
                )
        start = WithStartWorkflowOperation(
            DossierWorkflow.run,
            spec,
            id=dossier_workflow_id(spec.dossier_id),
            task_queue=DOSSIER_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.initial(spec.territory, spec.urgent),
        )
        created = False
        deadline = remaining(context)
        try:
            # Not cut at ACCEPT_WITHIN while a worker is seen at work (a long queue on a
            # slow server is not a missing worker): services/intake/acceptance.py.
            pending = await OPENINGS.within(
                self.temporal.start_update_with_start_workflow(
                    DossierWorkflow.open,
                    start_workflow_operation=start,
                    wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                    id=idempotency.key_of(request, "open") or None,
                    rpc_timeout=deadline,
                ),
                deadline,
                self.temporal,
                dossier_workflow_id(spec.dossier_id),
            )
            opened = await pending.result(rpc_timeout=deadline)
            created = opened.created
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            # The dossier's workflow is started (durably); no worker took the update.
            await settle_start(start)
            raise no_worker() from None
        except WorkflowAlreadyStartedError:
            await settle_start(start)  # the dossier's workflow has already ended: the dossier exists
        except BaseException:
            await settle_start(start)
            raise
        row = await self._dossier_row(spec.dossier_id)
        if not _same_request(row, spec):
            raise AlreadyExists(
                "this request_id already opened a different dossier; use a new request_id",
                fr="Cet identifiant de demande a déjà servi à ouvrir un autre dossier :"
                " recommencez avec un nouvel identifiant de demande.",
                reason="REQUEST_ID_REUSED",
                field="request_id",
            )
        return intake_pb2.OpenDossierResponse(
            dossier=dossier_message(row, self.reference.sites), created=created
        )

    async def GetDossier(self, request: intake_pb2.GetDossierRequest, context: Context) -> intake_pb2.Dossier:
        dossier_id = validation.parse_dossier_id(request.dossier_id)
        # One connection for the check and the read (each acquire costs a scope and a reset).
        async with self.pool.acquire() as conn:
            await self._authorise_on(conn, dossier_id)
            row = await repository.get_dossier_view(conn, dossier_id, self.timers, datetime.now(UTC))
        if row is None:
            raise validation.dossier_not_found()
        return dossier_message(row, self.reference.sites)

    async def GetDossierTimeline(
        self, request: intake_pb2.GetDossierRequest, context: Context
    ) -> intake_pb2.DossierTimeline:
        dossier_id = validation.parse_dossier_id(request.dossier_id)
        deadlines: asyncio.Task[list[intake_pb2.Deadline]] | None = None
        try:
            async with self.pool.acquire() as conn:
                await self._authorise_on(conn, dossier_id)
                reader = auth.acting_subject(request.agent)
                # The workflow's deadlines meanwhile (asked only once the caller may read).
                deadlines = asyncio.create_task(self._deadlines(dossier_id, context))
                row = await repository.get_dossier_view(conn, dossier_id, self.timers, datetime.now(UTC))
                if row is None:
                    raise validation.dossier_not_found()
                entries = await repository.timeline_of(conn, dossier_id)
                # What the person's collective actions add (their own lines only).
                collective = await collective_timeline.rows_of(conn, dossier_id)
                # The aid requests' steps: the social workers' (reception has no part in the aid).
                if auth.current().role in access.FOLLOWING:
                    collective += await aid_store.timeline_entries(conn, dossier_id)
                # Reception sees where the dossier stands, not what was confided (RLS agrees).
                notes = (
                    await repository.notes_visible_to(conn, dossier_id, reader)
                    if auth.current().role in access.NOTE_READERS
                    else []
                )
        except BaseException:
            if deadlines is not None:
                deadlines.cancel()
            raise
        return dossier_timeline_message(
            row, entries, collective, notes, await deadlines, self.reference.sites
        )

    async def ListDossiers(
        self, request: intake_pb2.ListDossiersRequest, context: Context
    ) -> intake_pb2.ListDossiersResponse:
        listing = caseload.dossier_listing(request, self.reference)
        territories = caseload.caller_territories(listing.territories)
        page = caseload.parse_page_token(request.page_token, listing)
        now = page.now if page is not None and page.now is not None else datetime.now(UTC)
        query = repository.DossierQuery(
            territories=territories,
            limit=listing.page_size,
            stage=listing.stage,
            assigned_agent=listing.assigned_agent,
            motif=listing.motif,
            person_id=listing.person_id,
            active_only=listing.active_only,
            attention_first=listing.attention_first,
            after=page.after if page is not None else None,
        )
        async with self.pool.acquire() as conn:
            rows = await repository.list_dossiers(conn, query, self.timers, now)
        token = ""
        if len(rows) == listing.page_size:
            token = caseload.page_token(listing, rows[-1], now)
        return intake_pb2.ListDossiersResponse(
            dossiers=[dossier_message(r, self.reference.sites) for r in rows], next_page_token=token
        )

    async def ListTasks(
        self, request: intake_pb2.ListTasksRequest, context: Context
    ) -> intake_pb2.ListTasksResponse:
        listing = caseload.task_listing(request, self.reference)
        territories = caseload.caller_territories(listing.territories)
        async with self.pool.acquire() as conn:
            rows = await repository.open_tasks(conn, territories, listing.assigned_agent, listing.page_size)
            rows += await notice_tasks.appointment_tasks(
                conn, territories, listing.assigned_agent, listing.page_size
            )
            rows += await aid_tasks.aid_tasks(conn, territories, listing.assigned_agent, listing.page_size)
        rows.sort(key=lambda r: (r["at"], str(r["dossier_id"]), r["step"]), reverse=True)
        return intake_pb2.ListTasksResponse(
            tasks=[
                aid_tasks.task_message(r) if aid_tasks.is_aid_task(r) else task_message(r)
                for r in rows[: listing.page_size]
            ]
        )

    async def ListReferenceData(
        self, request: intake_pb2.ListReferenceDataRequest, context: Context
    ) -> intake_pb2.ReferenceData:
        def items(table: Any) -> list[intake_pb2.ReferenceItem]:
            return [intake_pb2.ReferenceItem(code=c, label=label) for c, label in table.items()]

        return intake_pb2.ReferenceData(
            motifs=items(self.reference.motifs),
            arrival_channels=items(self.reference.arrival_channels),
            territories=items(self.reference.territories),
            closure_outcomes=items(self.reference.closure_outcomes),
            referral_outcomes=items(
                {code: capitalised(REFERRAL_REASON_LABELS[code]) for code in REFERRAL_OUTCOMES}
            ),
            referral_reasons=items(
                {code: capitalised(REFERRAL_REASON_LABELS[code]) for code in REFERRAL_REASONS}
            ),
            task_kinds=items({kind.value: TASK_KIND_LABELS[kind] for kind in TaskKind}),
            stages=items({s.value: capitalised(STAGE_LABELS[s]) for s in Stage}),
            step_kinds=items({k.value: capitalised(STEP_KIND_LABELS[k]) for k in StepKind}),
            data_scopes=items(self.reference.consent_data_scopes),
            consent_kinds=items({k.value: capitalised(CONSENT_KIND_LABELS[k]) for k in ConsentKind}),
            consent_channels=items({c.value: capitalised(CONSENT_CHANNEL_LABELS[c]) for c in ConsentChannel}),
            note_visibilities=items({v.value: capitalised(VISIBILITY_LABELS[v]) for v in Visibility}),
            referral_statuses=items(
                {s.value: capitalised(REFERRAL_STATUS_LABELS[s]) for s in ReferralStatus}
            ),
            import_fields=items(
                {f.value: f"{TEMPLATE_HEADERS[f]} : {label}" for f, label in FIELD_LABELS.items()}
            ),
            # Every commune's, like `territories` (deployment data, nothing personal).
            sites=[site_message(s) for s in self.reference.sites.values()],
        )

    # ---- lifecycle steps (workflow updates) --------------------------------------------
    async def RecordInterview(
        self, request: intake_pb2.RecordInterviewRequest, context: Context
    ) -> intake_pb2.StepResponse:
        command = InterviewInput(
            agent=auth.acting_subject(request.agent),
            notes=validation.notes(request.notes),
            visibility=validation.visibility(request.visibility),
        )
        return await self._step(request, DossierWorkflow.record_interview, command, context)

    async def CompleteEcoute(
        self, request: intake_pb2.CompleteEcouteRequest, context: Context
    ) -> intake_pb2.StepResponse:
        command = CompleteEcouteInput(
            agent=auth.acting_subject(request.agent),
            next_stage=validation.next_stage(request.next_stage),
            motifs=validation.motifs(list(request.motifs), self.reference, required=False),
        )
        return await self._step(request, DossierWorkflow.complete_ecoute, command, context)

    async def StartSuivi(self, request: intake_pb2.StepRequest, context: Context) -> intake_pb2.StepResponse:
        command = AgentInput(agent=auth.acting_subject(request.agent))
        return await self._step(request, DossierWorkflow.start_suivi, command, context)

    async def RecordFollowUp(
        self, request: intake_pb2.RecordFollowUpRequest, context: Context
    ) -> intake_pb2.StepResponse:
        command = FollowUpInput(
            agent=auth.acting_subject(request.agent),
            notes=validation.notes(request.notes),
            visibility=validation.visibility(request.visibility),
        )
        return await self._step(request, DossierWorkflow.record_follow_up, command, context)

    async def AssignAgent(
        self, request: intake_pb2.AssignAgentRequest, context: Context
    ) -> intake_pb2.StepResponse:
        command = AssignInput(
            agent=auth.acting_subject(request.agent), assignee=validation.agent(request.assignee, "assignee")
        )
        return await self._step(request, DossierWorkflow.assign, command, context)

    async def CloseDossier(
        self, request: intake_pb2.CloseDossierRequest, context: Context
    ) -> intake_pb2.StepResponse:
        command = CloseInput(
            agent=auth.acting_subject(request.agent),
            outcome=validation.outcome(request.outcome, self.reference),
            notes=validation.notes(request.notes),
        )
        return await self._step(request, DossierWorkflow.close, command, context)

    async def ReopenDossier(
        self, request: intake_pb2.ReopenDossierRequest, context: Context
    ) -> intake_pb2.StepResponse:
        command = ReopenInput(
            agent=auth.acting_subject(request.agent), reason=validation.notes(request.reason, "reason")
        )
        return await self._step(request, DossierWorkflow.reopen, command, context)

    # ---- plumbing ------------------------------------------------------------------
    async def _authorise(self, dossier_id: str) -> None:
        """NOT_FOUND for no such dossier, PERMISSION_DENIED for another territory's."""
        async with self.pool.acquire() as conn:
            await self._authorise_on(conn, dossier_id)

    async def _authorise_on(self, conn: Connection, dossier_id: str) -> None:
        """_authorise on a connection the handler holds anyway."""
        territory = await repository.dossier_territory(conn, dossier_id)
        if territory is None:
            raise validation.dossier_not_found()
        auth.current().require_dossier_territory(territory)

    async def _dossier_row(self, dossier_id: str) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await repository.get_dossier_view(conn, dossier_id, self.timers, datetime.now(UTC))
        if row is None:
            raise validation.dossier_not_found()
        return row

    async def _step(
        self, request: Any, update: Any, command: Any, context: Context
    ) -> intake_pb2.StepResponse:
        """Sends one update to the dossier's workflow; the workflow's validator refuses
        an invalid transition before anything is written. The update id derives from
        the request id: Temporal (and the workflow, after continue-as-new) answer a
        repeat with the first step."""
        dossier_id = validation.parse_dossier_id(request.dossier_id)
        await self._authorise(dossier_id)
        command.request_key = idempotency.key_of(request, update.__name__)
        handle = self.temporal.get_workflow_handle(dossier_workflow_id(dossier_id))
        try:
            await run_update(
                handle, update, command, update_id=command.request_key or None, timeout=remaining(context)
            )
        except WorkflowUpdateFailedError as exc:
            raise domain_error_from(exc) or FailedPrecondition(
                "the dossier refused this step", fr="Le dossier a refusé cette étape.", reason="STEP_REFUSED"
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise FailedPrecondition(
                    "this dossier is closed for good (its reopen delay has passed): open a new dossier",
                    fr="Ce dossier est clôturé définitivement (son délai de réouverture est passé) :"
                    " ouvrez un nouveau dossier.",
                    reason="REOPEN_DELAY_PASSED",
                ) from None
            raise
        return intake_pb2.StepResponse(
            dossier=dossier_message(await self._dossier_row(dossier_id), self.reference.sites)
        )

    async def _deadlines(self, dossier_id: str, context: Context) -> list[intake_pb2.Deadline]:
        handle = self.temporal.get_workflow_handle(dossier_workflow_id(dossier_id))
        try:
            view = await handle.query(DossierWorkflow.view, rpc_timeout=remaining(context))
        except RPCError:
            return []  # the workflow has ended: no deadline is pending
        assert isinstance(view, DossierView)
        return [intake_pb2.Deadline(kind=d.kind, due_at=to_timestamp(d.due_at)) for d in view.deadlines]
