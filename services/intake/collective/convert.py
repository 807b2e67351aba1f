"""Rows → CollectiveService messages. Person labels only for the agents' reads (every
role this service admits is an agent's); events never carry them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
from entraide.v1 import collective_pb2

from domain.collective import EnrolmentStatus
from kernel.timestamps import to_timestamp
from services.intake.collective import store
from services.intake.collective.rules import waiting_positions


def session_message(row: asyncpg.Record, sheet: Sequence[asyncpg.Record] = ()) -> collective_pb2.GroupSession:
    return collective_pb2.GroupSession(
        session_id=str(row["session_id"]),
        programme_id=str(row["programme_id"]),
        day=row["day"].isoformat(),
        starts_at=row["starts_at"].strftime("%H:%M"),
        ends_at=row["ends_at"].strftime("%H:%M"),
        site=row["site"],
        room=row["room"],
        place=row["place"],
        capacity=row["capacity"],
        held=row["held"],
        attendance=[
            collective_pb2.SessionAttendance(
                enrolment_id=str(line["enrolment_id"]),
                presence=line["presence"],
                person_label=line["person_label"],
            )
            for line in sheet
        ],
    )


def enrolment_message(row: asyncpg.Record, position: int = 0) -> collective_pb2.Enrolment:
    return collective_pb2.Enrolment(
        enrolment_id=str(row["enrolment_id"]),
        programme_id=str(row["programme_id"]),
        person_id=str(row["person_id"]),
        dossier_id=str(row["dossier_id"]),
        status=row["status"],
        waiting_position=position if row["status"] == EnrolmentStatus.WAITING else 0,
        outcome=row["outcome"],
        person_label=row.get("person_label") or "",
        enrolled_at=to_timestamp(row["enrolled_at"]),
    )


def positions(rows: Sequence[asyncpg.Record]) -> dict[int, int]:
    return waiting_positions(r["arrival"] for r in rows if r["status"] == EnrolmentStatus.WAITING)


def programme_message(
    row: asyncpg.Record,
    sessions: Sequence[asyncpg.Record] = (),
    enrolments: Sequence[asyncpg.Record] = (),
) -> collective_pb2.Programme:
    order = positions(enrolments)
    return collective_pb2.Programme(
        programme_id=str(row["programme_id"]),
        territory=row["territory"],
        name=row["name"],
        aim=row["aim"],
        partner_id=row["partner_id"],
        partner_name=row["partner_name"],
        facilitators=[
            collective_pb2.Facilitator(agent_id=f.get("agent_id", ""), label=f.get("label", ""))
            for f in store.facilitators_of(row)
        ],
        site=row["site"],
        room=row["room"],
        place=row["place"],
        rhythm=row["rhythm"],
        first_day=row["first_day"].isoformat(),
        last_day=row["last_day"].isoformat(),
        capacity=row["capacity"],
        status=row["status"],
        sessions=[session_message(s) for s in sessions],
        enrolments=[enrolment_message(e, order.get(e["arrival"], 0)) for e in enrolments],
    )


def goal_message(row: asyncpg.Record, notes: Mapping[str, Sequence[asyncpg.Record]]) -> collective_pb2.Goal:
    return collective_pb2.Goal(
        goal_id=str(row["goal_id"]),
        enrolment_id=str(row["enrolment_id"]),
        title=row["title"],
        status=row["status"],
        notes=[
            collective_pb2.GoalNote(day=n["day"].isoformat(), text=n["text"], author=n["author"])
            for n in notes.get(str(row["goal_id"]), ())
        ],
        updated_at=to_timestamp(row["updated_at"]),
    )
