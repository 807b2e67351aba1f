"""Permanences as an iCalendar document (RFC 5545, library `icalendar`).

One VEVENT per permanence carries its rule (RRULE FREQ=WEEKLY, INTERVAL 1 or 2, UNTIL
its last day), with an EXDATE for each session an exception closes; each extra session
is a VEVENT of its own. Times are Paris wall-clock times (TZID Europe/Paris, with its
VTIMEZONE), so calendars show 10:00 in winter and in summer. UIDs derive from the
permanence's id (and the extra session's day): a calendar that subscribes to the feed
updates its events instead of duplicating them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, time

import asyncpg
from icalendar import Calendar, Event, Timezone

from domain import permanences
from domain.permanences import paris
from kernel.reference import ReferenceData
from services.intake.planning.store import permanence_of

UID_DOMAIN = "entraide"
# Europe/Paris as its rule (EU summer time since 1996: last Sunday of March and of
# October), rather than icalendar's generated list of dates, which stops in 2038.
PARIS_VTIMEZONE = "\r\n".join(
    [
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Paris",
        "BEGIN:DAYLIGHT",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "TZNAME:CEST",
        "DTSTART:19960331T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "TZNAME:CET",
        "DTSTART:19961027T030000",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD",
        "END:VTIMEZONE",
        "",
    ]
)


def _location(reference: ReferenceData, site_code: str, room_code: str) -> str:
    site = reference.sites.get(site_code)
    if site is None:
        return site_code
    room = site.room(room_code)
    place = f"{site.label} – {room.label if room is not None else room_code}"
    return f"{place}, {site.address}" if site.address else place


def document(
    name: str, rows: Sequence[tuple[asyncpg.Record, Sequence[asyncpg.Record]]], reference: ReferenceData
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Entraide//Planning des permanences//FR")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", "Europe/Paris")
    calendar.add_component(Timezone.from_ical(PARIS_VTIMEZONE))
    for row, changes in rows:
        for event in _events(row, changes, reference):
            calendar.add_component(event)
    return bytes(calendar.to_ical())


def _events(row: asyncpg.Record, changes: Sequence[asyncpg.Record], reference: ReferenceData) -> list[Event]:
    permanence = permanence_of(row, changes)
    rule = permanence.rule
    pid = str(row["permanence_id"])
    stamp = row["created_at"].astimezone(UTC)
    location = _location(reference, row["site"], row["room"])
    found = []
    anchor = rule.anchor
    if rule.last_day is None or anchor <= rule.last_day:
        event = Event()
        event.add("uid", f"permanence-{pid}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", paris(anchor, rule.starts_at))
        event.add("dtend", paris(anchor, rule.ends_at))
        recurrence: dict[str, object] = {"freq": "weekly", "interval": rule.interval_days // 7}
        if rule.last_day is not None:
            # RFC 5545: with a DTSTART in local time, UNTIL is given in UTC.
            recurrence["until"] = paris(rule.last_day, time(23, 59, 59)).astimezone(UTC)
        event.add("rrule", recurrence)
        closing_days = [c.until for c in permanence.changes]
        if closing_days:
            for closure in permanences.closures(permanence, anchor, max(closing_days)):
                event.add("exdate", paris(closure.day, rule.starts_at))
        event.add("summary", f"Permanence : {row['host_label']}")
        event.add("location", location)
        found.append(event)
    for extra in permanence.extras:
        if extra.day < rule.first_day or (rule.last_day is not None and extra.day > rule.last_day):
            continue
        assert extra.starts_at is not None and extra.ends_at is not None
        event = Event()
        event.add("uid", f"permanence-{pid}-extra-{extra.day.isoformat()}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", paris(extra.day, extra.starts_at))
        event.add("dtend", paris(extra.day, extra.ends_at))
        event.add("summary", f"Permanence supplémentaire : {row['host_label']}")
        event.add("location", location)
        found.append(event)
    return found


def filename(*parts: str) -> str:
    safe = "-".join("".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in p) for p in parts if p)
    return f"permanences-{safe or 'entraide'}.ics"
