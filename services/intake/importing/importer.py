"""Writing the accepted rows of a file: persons (an imported one, else one already known),
households, then dossiers with their timeline and domain events in batches of
`BATCH_ROWS`, each batch one transaction. The dossiers still open are marked
`workflow_pending`: ImportWorkflow starts their workflows (services/intake/importing/
starts.py). Every write is keyed by the ids `plan` derives, so a cut import sent again
finds what it wrote and goes on from there."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from entraide.v1 import events_pb2

from domain.events import EventType
from domain.import_fields import ImportField
from domain.vocabulary import Stage, StepKind
from kernel.db import Connection
from kernel.events import Event, new_event
from kernel.timestamps import to_timestamp
from services.intake import timeline
from services.intake.importing import plan as plans
from services.intake.importing import store
from services.intake.importing.rows import PARIS, ImportedPerson, ImportedRow, RowError
from workflows.contracts import LifecycleTimers

BATCH_ROWS = 500
# Workflows started at once (each start is one Temporal round trip).
STARTS_IN_FLIGHT = 20
SOURCE = "entraide/intake"


@dataclass(frozen=True)
class Duplicate:
    line: int
    person_id: str
    same_person: bool


@dataclass
class Written:
    """What an import wrote (or, for a dry run, would write)."""

    dossiers_created: int = 0
    already_imported: int = 0
    persons_created: int = 0
    households_created: int = 0
    # Open dossiers of the file whose workflow ImportWorkflow is to start.
    workflows_to_start: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    # Dossiers of the file (written or already there) past the retention period.
    past_retention: int = 0
    # Rows refused once compared with what is already there.
    conflicts: list[RowError] = field(default_factory=list)


def _day(at: datetime) -> date:
    return at.astimezone(PARIS).date()


def _conflict(p: plans.DossierPlan, opened_at: datetime) -> RowError:
    return RowError(
        line=p.row.line,
        column=p.row.reference_column,
        field=ImportField.REFERENCE.value,
        reason="REFERENCE_TAKEN",
        message="Ce numéro de dossier a déjà été importé pour un dossier ouvert le"
        f" {_day(opened_at):%d/%m/%Y} : vérifiez le numéro (un autre fichier numérote-t-il ses"
        " dossiers de la même façon ?).",
    )


@dataclass
class _People:
    """Each person of the file (by its key) → the person id its dossiers carry."""

    ids: dict[str, str] = field(default_factory=dict)
    new: dict[str, store.NewPersonRow] = field(default_factory=dict)  # to insert, by person id
    duplicates: list[Duplicate] = field(default_factory=list)


def _first_rows(rows: Sequence[ImportedRow]) -> dict[str, tuple[ImportedRow, ImportedPerson]]:
    firsts: dict[str, tuple[ImportedRow, ImportedPerson]] = {}
    for row in rows:
        if row.person is not None and row.person.key not in firsts:
            firsts[row.person.key] = (row, row.person)
    return firsts


async def _resolve_people(conn: Connection, rows: Sequence[ImportedRow]) -> _People:
    """An imported person already written is used again; else a person of the caller's
    communes with the same name and birth date is used (a duplicate reported); else a new
    person is to be created (reported when someone has the same phone)."""
    firsts = _first_rows(rows)
    imported_ids = {key: plans.person_id(row.territory, key) for key, (row, _) in firsts.items()}
    existing = await store.existing_persons(conn, list(imported_ids.values()))
    people = _People()
    unknown = [key for key in firsts if imported_ids[key] not in existing]
    known = await store.known_persons(
        conn,
        [(firsts[k][1].name_key, firsts[k][1].birth_date, firsts[k][1].phone) for k in unknown],
        excluded=list(imported_ids.values()),
    )
    for key, pid in imported_ids.items():
        if pid in existing:
            people.ids[key] = existing[pid]
    for index, key in enumerate(unknown):
        row, person = firsts[key]
        match = known.get(index)
        if match is not None:
            people.duplicates.append(Duplicate(row.line, match.person_id, match.same_person))
            if match.same_person:
                people.ids[key] = match.person_id
                continue
        pid = imported_ids[key]
        people.ids[key] = pid
        people.new[pid] = store.NewPersonRow(
            person_id=pid,
            territory=row.territory,
            request_id=plans.person_request_id(pid),
            first_name=person.first_name,
            last_name=person.last_name,
            name_key=person.name_key,
            birth_date=person.birth_date,
            phone=person.phone,
            email=person.email,
            address_commune=person.address_commune,
            address_line=person.address_line,
        )
    people.duplicates.sort(key=lambda d: d.line)
    return people


def _households(rows: Sequence[ImportedRow], people: _People) -> dict[str, tuple[str, str, list[str]]]:
    """Household reference → (id, commune, member person ids): the persons of the rows
    sharing it (a household is made of persons: rows without one add no member)."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    for row in rows:
        if row.household is None or row.person is None:
            continue
        pid = people.ids[row.person.key]
        if row.household not in found:
            found[row.household] = (plans.household_id(row.territory, row.household, pid), row.territory, [])
        members = found[row.household][2]
        if pid not in members:
            members.append(pid)
    return found


def _person_events(
    person_ids: Sequence[str], new: dict[str, store.NewPersonRow], now: datetime
) -> list[Event]:
    return [
        new_event(
            EventType.PERSON_CREATED,
            SOURCE,
            pid,
            events_pb2.PersonCreated(person_id=pid, territory=new[pid].territory, at=to_timestamp(now)),
            event_id=uuid.uuid5(plans.IMPORT_NAMESPACE, f"person.created\x00{pid}"),
            time=now,
        )
        for pid in person_ids
    ]


def _dossier_row(
    p: plans.DossierPlan, person_id: str | None, household_id: str | None, workflow_pending: bool
) -> store.DossierRow:
    row = p.row
    return store.DossierRow(
        dossier_id=p.dossier_id,
        territory=row.territory,
        site=row.site,
        motifs=row.motifs,
        arrival_channel=row.arrival_channel,
        urgent=row.urgent,
        stage=p.stage,
        opened_at=row.opened_at,
        updated_at=p.updated_at,
        person_id=person_id,
        household_id=household_id,
        assigned_agent=row.assigned_agent,
        last_activity_at=p.last_activity_at,
        outcome=row.outcome or "" if p.stage == Stage.CLOTURE else "",
        last_step=len(p.steps),
        workflow_pending=workflow_pending,
    )


def _timeline(p: plans.DossierPlan, outcomes: dict[str, str]) -> list[store.TimelineRow]:
    opened = store.TimelineRow(
        p.dossier_id,
        0,
        p.row.territory,
        StepKind.OPENED.value,
        Stage.RECEPTION.value,
        p.actor,
        p.row.opened_at,
        plans.OPENED_SUMMARY,
    )
    return [opened] + [
        store.TimelineRow(
            t.dossier_id,
            t.step,
            t.territory,
            t.kind,
            t.to_stage,
            t.actor,
            datetime.fromisoformat(t.at),
            timeline.summary(t, outcomes),
        )
        for t in p.steps
    ]


class Importer:
    def __init__(self, timers: LifecycleTimers, outcomes: dict[str, str], retention_days: int = 0) -> None:
        """`retention_days`: the deployment's retention period, to count the dossiers past it
        (0: not counted)."""
        self.retention_days = retention_days
        self.timers = timers
        self.outcomes = outcomes

    async def run(
        self,
        conn: Connection,
        rows: Sequence[ImportedRow],
        *,
        actor: str,
        import_id: str | None,
        now: datetime,
    ) -> Written:
        """Writes the rows (or, with no import_id, only counts what it would write)."""
        all_plans = [plans.plan(row, actor) for row in rows]
        existing = await store.existing_dossiers(conn, [p.dossier_id for p in all_plans])
        # A number already imported for a dossier opened another day: another dossier (another
        # source numbering alike, or a wrong number), refused rather than taken for it.
        conflicts = [
            _conflict(p, existing[p.dossier_id])
            for p in all_plans
            if p.dossier_id in existing and _day(existing[p.dossier_id]) != _day(p.row.opened_at)
        ]
        if conflicts:
            taken = {c.line for c in conflicts}
            all_plans = [p for p in all_plans if p.row.line not in taken]
            rows = [p.row for p in all_plans]
            kept = {p.dossier_id for p in all_plans}
            existing = {d: at for d, at in existing.items() if d in kept}
        people = await _resolve_people(conn, rows)
        households = _households(rows, people)
        written = Written(already_imported=len(existing), duplicates=people.duplicates, conflicts=conflicts)
        fresh = [p for p in all_plans if p.dossier_id not in existing]
        if self.retention_days:
            cutoff = now - timedelta(days=self.retention_days)
            written.past_retention = sum(1 for p in all_plans if p.last_activity_at < cutoff)
        pending = {p.dossier_id for p in fresh if plans.needs_workflow(p, now, self.timers.reopen_delay_s)}
        if import_id is None:
            written.workflows_to_start = len(pending) + await store.pending_workflows(conn, sorted(existing))
            written.dossiers_created = len(fresh)
            written.persons_created = len(people.new)
            known_households = await store.existing_households(conn, [h for h, _, _ in households.values()])
            written.households_created = sum(
                1 for h, _, _ in households.values() if h not in known_households
            )
            return written
        async with conn.transaction():
            created = await store.insert_persons(conn, list(people.new.values()), now)
            await store.write_events(conn, _person_events(sorted(created), people.new, now))
            written.persons_created = len(created)
            written.households_created = await store.insert_households(
                conn,
                [(h, territory) for h, territory, _ in households.values()],
                [(h, pid) for h, _, members in households.values() for pid in members],
                now,
            )
        for start in range(0, len(fresh), BATCH_ROWS):
            created = await self._batch(
                conn, fresh[start : start + BATCH_ROWS], people, households, import_id, pending
            )
            written.dossiers_created += len(created)
            written.workflows_to_start += len(created & pending)
        written.workflows_to_start += await store.pending_workflows(conn, sorted(existing))
        return written

    async def _batch(
        self,
        conn: Connection,
        batch: Sequence[plans.DossierPlan],
        people: _People,
        households: dict[str, tuple[str, str, list[str]]],
        import_id: str,
        pending: set[str],
    ) -> set[str]:
        """Writes a batch of dossiers; the ids written (a row imported meanwhile by another
        call of the same file is left to it)."""
        async with conn.transaction():
            created = await store.insert_dossiers(
                conn,
                [
                    _dossier_row(p, *self._links(p, people, households), p.dossier_id in pending)
                    for p in batch
                ],
                self.timers,
                import_id,
            )
            done = [p for p in batch if p.dossier_id in created]
            await store.insert_timeline(conn, [entry for p in done for entry in _timeline(p, self.outcomes)])
            events: list[Event] = []
            for p in done:
                events.append(plans.opened_event(p, self._links(p, people, households)[0]))
                events.extend(plans.step_events(p))
            await store.write_events(conn, events)
        return {p.dossier_id for p in done}

    @staticmethod
    def _links(
        p: plans.DossierPlan, people: _People, households: dict[str, tuple[str, str, list[str]]]
    ) -> tuple[str | None, str | None]:
        row = p.row
        person = people.ids[row.person.key] if row.person is not None else None
        household = households.get(row.household) if row.household is not None else None
        return person, household[0] if household is not None and household[2] else None
