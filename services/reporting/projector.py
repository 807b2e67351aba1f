"""Projects domain events into reporting's fact tables. Called inside the consumer's
transaction, after the inbox insert, so each event applies exactly once. Updates are
written so that arrival order does not matter (latest `at` wins for the stage)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from entraide.v1 import events_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.db import Connection
from kernel.events import Event

SCHEMA = "reporting"
CONSUMER = "reporting-projector"
STAGE_COLUMNS = {
    "ecoute": "ecoute_at",
    "orientation": "orientation_at",
    "suivi": "suivi_at",
    "cloture": "closed_at",
}


class NotProjectedYet(Exception):
    """A lifecycle event arrived before its dossier.opened: retried after a delay."""


def _at(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def _dossier_opened(conn: Connection, data: events_pb2.DossierOpened) -> None:
    if not data.dossier_id or not data.motifs:
        raise ValueError("dossier.opened without dossier id or motifs")
    await conn.execute(
        f"""INSERT INTO {SCHEMA}.dossier_facts
                (dossier_id, territory, site, motifs, arrival_channel, urgent, opened_at, stage_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
            ON CONFLICT (dossier_id) DO NOTHING""",
        data.dossier_id,
        data.territory,
        data.site,
        list(data.motifs),
        data.arrival_channel,
        data.urgent,
        _at(data.opened_at),
    )


async def _update(conn: Connection, dossier_id: str, sql: str, *args: object) -> None:
    status = await conn.execute(
        f"UPDATE {SCHEMA}.dossier_facts SET {sql} WHERE dossier_id = $1", dossier_id, *args
    )
    if status.endswith(" 0"):
        raise NotProjectedYet(dossier_id)


async def _stage_changed(conn: Connection, data: events_pb2.DossierStageChanged) -> None:
    column = STAGE_COLUMNS.get(data.to_stage)
    first_time = f", {column} = COALESCE({column}, $2)" if column else ""
    await _update(
        conn,
        data.dossier_id,
        f"""stage = CASE WHEN stage_at IS NULL OR $2 >= stage_at THEN $3 ELSE stage END,
            stage_at = GREATEST(stage_at, $2){first_time}""",
        _at(data.at),
        data.to_stage,
    )


async def _ecoute_completed(conn: Connection, data: events_pb2.EcouteCompleted) -> None:
    if data.motifs:
        await _update(conn, data.dossier_id, "motifs = $2", list(data.motifs))


async def _closed(conn: Connection, data: events_pb2.DossierClosed) -> None:
    await _update(
        conn,
        data.dossier_id,
        "outcome = CASE WHEN closed_at IS NULL OR $2 >= closed_at THEN $3 ELSE outcome END, "
        "closed_at = GREATEST(closed_at, $2)",
        _at(data.at),
        data.outcome,
    )


async def _escalated(conn: Connection, data: events_pb2.DossierEscalated) -> None:
    await _update(conn, data.dossier_id, "escalated = true")


async def _reopened(conn: Connection, data: events_pb2.DossierReopened) -> None:
    await _update(conn, data.dossier_id, "reopened = reopened + 1")


async def _reminder(conn: Connection, data: events_pb2.SuiviReminder) -> None:
    await _update(conn, data.dossier_id, "reminders = reminders + 1")


Projection = Callable[[Connection, Message], Awaitable[None]]
PROJECTIONS: dict[str, tuple[type[Message], Projection]] = {
    "entraide.dossier.opened": (events_pb2.DossierOpened, _dossier_opened),  # type: ignore[dict-item]
    "entraide.dossier.stage_changed": (events_pb2.DossierStageChanged, _stage_changed),  # type: ignore[dict-item]
    "entraide.dossier.ecoute_completed": (events_pb2.EcouteCompleted, _ecoute_completed),  # type: ignore[dict-item]
    "entraide.dossier.closed": (events_pb2.DossierClosed, _closed),  # type: ignore[dict-item]
    "entraide.dossier.escalated": (events_pb2.DossierEscalated, _escalated),  # type: ignore[dict-item]
    "entraide.dossier.reopened": (events_pb2.DossierReopened, _reopened),  # type: ignore[dict-item]
    "entraide.dossier.reminder": (events_pb2.SuiviReminder, _reminder),  # type: ignore[dict-item]
}


async def project(conn: Connection, event: Event) -> None:
    projection = PROJECTIONS.get(event.type)
    if projection is None:
        return  # not part of reporting's read models: acknowledged and skipped
    message_type, apply = projection
    await apply(conn, event.parse(message_type))
