"""What an imported row becomes (pure: no I/O): its ids, derived from the row's identity
so that importing it again finds the same dossier; its steps, the same `Transition`s
the dossier workflow writes (opening, each dated stage, the closure) at the file's
dates; their domain events, built by the same table as live steps; and, for a dossier
still open, the state its DossierWorkflow starts from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from entraide.v1 import events_pb2

from domain.events import EventType
from domain.vocabulary import Stage, StepKind
from kernel.events import Event, new_event, step_event_id
from kernel.timestamps import to_timestamp
from services.intake import timeline
from services.intake.importing.rows import ImportedRow
from services.intake.repository import ACTIVITY_KINDS
from workflows.contracts import Transition, dossier_workflow_id

IMPORT_NAMESPACE = uuid.UUID("9d4c2f7e-1b3a-4e8d-a6f5-0c2b7e9d1a34")
SOURCE = "entraide/intake"
OPENED_SUMMARY = "Dossier ouvert à l'accueil (repris d'un fichier existant)"


def dossier_id(row: ImportedRow) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"dossier\x00{row.key}"))


def person_id(territory: str, person_key: str) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"person\x00{territory}\x00{person_key}"))


def household_id(territory: str, reference: str, first_member: str) -> str:
    """With its first member: two files may number their households alike."""
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"household\x00{territory}\x00{reference}\x00{first_member}"))


def person_request_id(person_id: str) -> str:
    """The imported person's key in `persons.request_id` (unique per commune): from its
    id, so only the same person can meet it."""
    return f"import:{uuid.UUID(person_id).hex}"


@dataclass(frozen=True)
class DossierPlan:
    row: ImportedRow
    dossier_id: str
    workflow_id: str
    actor: str
    steps: list[Transition]  # steps 1..n; the opening is step 0

    @property
    def stage(self) -> str:
        return self.steps[-1].to_stage if self.steps else Stage.RECEPTION.value

    @property
    def updated_at(self) -> datetime:
        return datetime.fromisoformat(self.steps[-1].at) if self.steps else self.row.opened_at

    @property
    def last_activity_at(self) -> datetime:
        """The last step that counts as activity (the workflow's inactivity clock)."""
        active = [t for t in self.steps if t.kind in ACTIVITY_KINDS]
        return datetime.fromisoformat(active[-1].at) if active else self.row.opened_at


def plan(row: ImportedRow, actor: str) -> DossierPlan:
    """The steps of the row, in order: each dated stage (from the one before it), then
    the closure with its outcome."""
    did = dossier_id(row)
    workflow_id = dossier_workflow_id(did)
    steps: list[Transition] = []
    stage = Stage.RECEPTION.value

    def add(kind: StepKind, to_stage: str, at: datetime, outcome: str | None = None) -> None:
        nonlocal stage
        steps.append(
            Transition(
                workflow_id=workflow_id,
                dossier_id=did,
                territory=row.territory,
                step=len(steps) + 1,
                kind=kind.value,
                at=at.isoformat(),
                actor=actor,
                from_stage=stage,
                to_stage=to_stage,
                cycle=0,
                outcome=outcome,
            )
        )
        stage = to_stage

    for to_stage, at in row.stages:
        add(StepKind.STAGE_CHANGED, to_stage.value, at)
    if row.closed_at is not None:
        add(StepKind.CLOSED, Stage.CLOTURE.value, row.closed_at, row.outcome)
    return DossierPlan(row=row, dossier_id=did, workflow_id=workflow_id, actor=actor, steps=steps)


def opened_event(p: DossierPlan, person: str | None) -> Event:
    """dossier.opened at the file's opening date, with the id a live opening would have."""
    row = p.row
    payload = events_pb2.DossierOpened(
        dossier_id=p.dossier_id,
        territory=row.territory,
        site=row.site,
        motifs=row.motifs,
        arrival_channel=row.arrival_channel,
        urgent=row.urgent,
        opened_at=to_timestamp(row.opened_at),
        person_id=person or "",
    )
    return new_event(
        EventType.DOSSIER_OPENED,
        SOURCE,
        p.dossier_id,
        payload,
        event_id=step_event_id(p.workflow_id, StepKind.OPENED),
        time=row.opened_at,
    )


def step_events(p: DossierPlan) -> list[Event]:
    """The events of the steps after the opening, ids as `record_transition` derives them."""
    return [
        new_event(
            event_type,
            SOURCE,
            p.dossier_id,
            payload,
            event_id=step_event_id(p.workflow_id, f"{t.step}/{event_type}"),
            time=datetime.fromisoformat(t.at),
        )
        for t in p.steps
        for event_type, payload in timeline.events(t)
    ]


def needs_workflow(p: DossierPlan, now: datetime, reopen_delay_s: float) -> bool:
    """Open, or closed recently enough to be reopened: its workflow has work left."""
    closed_at = p.row.closed_at
    return closed_at is None or closed_at + timedelta(seconds=reopen_delay_s) > now
