"""Intake's activities, run on the `intake` task queue. Idempotent: keyed by the
dossier and the workflow step, so a retry after a commit changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from entraide.v1 import events_pb2
from temporalio import activity

from domain.events import EventType
from domain.vocabulary import (
    NOTE_KIND_OF_STEP,
    SYSTEM_ACTOR,
    TIMER_STEPS,
    NoteKind,
    Stage,
    StepKind,
    Visibility,
)
from kernel import outbox
from kernel.db import Pool, system_scope
from kernel.events import new_event, step_event_id
from kernel.reference import ReferenceData
from kernel.timestamps import to_timestamp
from services.intake import repository, timeline
from services.intake.schema import SCHEMA
from workflows.contracts import ActivityName, RecordOpened, Transition

SOURCE = "entraide/intake"


# Notes whose author chooses who reads them (the others are the team's).
CHOSEN_VISIBILITY = frozenset({NoteKind.INTERVIEW, NoteKind.FOLLOW_UP})


class IntakeActivities:
    def __init__(self, pool: Pool, reference: ReferenceData) -> None:
        self.pool = pool
        self.reference = reference

    @activity.defn(name=ActivityName.RECORD_DOSSIER_OPENED)
    async def record_dossier_opened(self, command: RecordOpened) -> str:
        spec = command.spec
        async with system_scope(self.pool, [spec.territory]) as conn, conn.transaction():
            existing = await repository.get_dossier(conn, spec.dossier_id)
            if existing is not None:
                opened_at: datetime = existing["opened_at"]
                return opened_at.isoformat()
            opened_at = datetime.now(UTC)
            await repository.insert_dossier(conn, spec, opened_at)
            await repository.insert_timeline(
                conn,
                spec.dossier_id,
                0,
                spec.territory,
                StepKind.OPENED,
                Stage.RECEPTION,
                0,
                spec.opened_by or spec.assigned_agent,
                opened_at,
                "Dossier ouvert à l'accueil",
            )
            payload = events_pb2.DossierOpened(
                dossier_id=spec.dossier_id,
                territory=spec.territory,
                site=spec.site,
                motifs=spec.motifs,
                arrival_channel=spec.arrival_channel,
                urgent=spec.urgent,
                opened_at=to_timestamp(opened_at),
                person_id=spec.person_id,
            )
            event = new_event(
                EventType.DOSSIER_OPENED,
                SOURCE,
                spec.dossier_id,
                payload,
                event_id=step_event_id(command.workflow_id, StepKind.OPENED),
                time=opened_at,
            )
            await outbox.write(conn, SCHEMA, event)
            return opened_at.isoformat()

    @activity.defn(name=ActivityName.RECORD_TRANSITION)
    async def record_transition(self, t: Transition) -> None:
        at = datetime.fromisoformat(t.at)
        # all_notes: the platform writes author-only notes too (INSERT … ON CONFLICT
        # must see the row it may conflict with).
        async with system_scope(self.pool, [t.territory], all_notes=True) as conn, conn.transaction():
            inserted = await repository.insert_timeline(
                conn,
                t.dossier_id,
                t.step,
                t.territory,
                t.kind,
                t.to_stage,
                t.cycle,
                t.actor or (SYSTEM_ACTOR if t.kind in TIMER_STEPS else ""),
                at,
                timeline.summary(t, self.reference.closure_outcomes),
                referral_id=t.referral_id,
                referral_status=t.referral_status,
                partner_name=t.partner_name,
            )
            if not inserted:
                return  # this step was already written by an earlier attempt
            await repository.apply_transition(conn, t, at)
            note_kind = NOTE_KIND_OF_STEP.get(t.kind)
            if note_kind and t.notes:
                await repository.insert_note(
                    conn,
                    timeline.note_id(t.dossier_id, t.step),
                    t,
                    note_kind,
                    at,
                    visibility=t.visibility
                    if note_kind in (NoteKind.INTERVIEW, NoteKind.FOLLOW_UP)
                    else Visibility.TEAM,
                )
            for event_type, payload in timeline.events(t):
                event = new_event(
                    event_type,
                    SOURCE,
                    t.dossier_id,
                    payload,
                    event_id=step_event_id(t.workflow_id, f"{t.step}/{event_type}"),
                    time=at,
                )
                await outbox.write(conn, SCHEMA, event)
