"""Rows of the planning as PlanningService messages, and the French words a person
reads about a permanence (its day and hours, a day of the calendar)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

import asyncpg
from entraide.v1 import planning_pb2

from domain.labels_fr import MONTHS_FR, WEEKDAY_LABELS
from domain.planning import ExceptionKind, Recurrence
from kernel.reference import Site
from kernel.timestamps import to_timestamp


def hhmm(value: time | None) -> str:
    return value.strftime("%H:%M") if value is not None else ""


def day_fr(day: date) -> str:
    """« mardi 12 janvier 2027 »."""
    first = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAY_LABELS[day.isoweekday()]} {first} {MONTHS_FR[day.month - 1]} {day.year}"


def hour_fr(at: time) -> str:
    """« 9h », « 13h30 »."""
    return f"{at.hour}h{at.minute:02d}" if at.minute else f"{at.hour}h"


def hours_fr(starts: time, ends: time) -> str:
    return f"de {hour_fr(starts)} à {hour_fr(ends)}"


def rule_fr(row: asyncpg.Record) -> str:
    """« le mardi de 9h à 12h, une semaine sur deux »."""
    every = ", une semaine sur deux" if row["recurrence"] == Recurrence.FORTNIGHTLY else ""
    return f"le {WEEKDAY_LABELS[row['weekday']]} {hours_fr(row['starts_at'], row['ends_at'])}{every}"


def host_message(row: asyncpg.Record) -> planning_pb2.Host:
    return planning_pb2.Host(
        kind=row["host_kind"], id=row["host_id"], label=row["host_label"], category=row["host_category"]
    )


def exception_message(row: asyncpg.Record) -> planning_pb2.PermanenceException:
    return planning_pb2.PermanenceException(
        kind=row["kind"],
        date=row["day"].isoformat(),
        until=row["until"].isoformat() if row["kind"] == ExceptionKind.HOLIDAY else "",
        starts_at=hhmm(row["starts_at"]),
        ends_at=hhmm(row["ends_at"]),
        reason=row["reason"],
    )


def permanence_message(
    row: asyncpg.Record, changes: Sequence[asyncpg.Record]
) -> planning_pb2.PlannedPermanence:
    return planning_pb2.PlannedPermanence(
        permanence_id=str(row["permanence_id"]),
        site=row["site"],
        room=row["room"],
        territory=row["territory"],
        host=host_message(row),
        recurrence=row["recurrence"],
        weekday=row["weekday"],
        starts_at=hhmm(row["starts_at"]),
        ends_at=hhmm(row["ends_at"]),
        first_day=row["first_day"].isoformat(),
        last_day=row["last_day"].isoformat() if row["last_day"] else "",
        slot_minutes=row["slot_minutes"],
        exceptions=[exception_message(c) for c in changes],
    )


def site_message(site: Site) -> planning_pb2.Site:
    return planning_pb2.Site(
        code=site.code,
        label=site.label,
        territory=site.territory,
        address=site.address,
        rooms=[planning_pb2.Room(code=r.code, label=r.label) for r in site.rooms],
    )


def appointment_message(row: asyncpg.Record, with_person: bool) -> planning_pb2.Appointment:
    return planning_pb2.Appointment(
        appointment_id=str(row["appointment_id"]),
        territory=row["territory"],
        site=row["site"],
        room=row["room"],
        permanence_id=str(row["permanence_id"] or ""),
        host=host_message(row),
        person_id=str(row["person_id"]),
        dossier_id=str(row["dossier_id"] or ""),
        starts_at=to_timestamp(row["starts_at"]),
        ends_at=to_timestamp(row["ends_at"]),
        status=row["status"],
        motif=row["motif"],
        version=row["version"],
        no_show_proposed=row["no_show_proposed_at"] is not None,
        person_label=f"{row['first_name']} {row['last_name']}".strip() if with_person else "",
        walk_in=row["walk_in"],
        booked_at=to_timestamp(row["booked_at"]),
    )


def mask(channel: str, recipient: str) -> str:
    """What a responsable reads of an address: enough to recognise it, not to use it
    (« 06 •• •• •• 78 », « c•••@example.fr »)."""
    if channel == "email":
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}•••@{domain}" if domain else "•••"
    digits = recipient.removeprefix("+33")
    digits = "0" + digits if recipient.startswith("+33") else digits
    if len(digits) < 4:
        return "••"
    return f"{digits[:2]} •• •• •• {digits[-2:]}"


def message_message(row: asyncpg.Record) -> planning_pb2.PersonMessage:
    return planning_pb2.PersonMessage(
        message_id=str(row["message_id"]),
        appointment_id=str(row["appointment_id"]),
        kind=row["kind"],
        channel=row["channel"],
        recipient=mask(row["channel"], row["recipient"]),
        status=row["status"],
        attempts=row["attempts"],
        receipt=row["receipt"],
        created_at=to_timestamp(row["created_at"]),
        sent_at=to_timestamp(row["sent_at"]) if row["sent_at"] is not None else None,
        body=row["body"],
        site=row["site"],
    )
