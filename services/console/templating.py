"""Jinja2 templates and the filters they use: dates in dd/mm/yyyy and times in
Europe/Paris, and the French word for every code (from the reference data and the
domain's labels, never spelled here)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain import labels_fr as labels
from domain.aides import DEFAULT_DOCUMENT_MAX_BYTES
from domain.appointments import ATTENDANCE_FROM, attendance_due
from domain.labels_fr import MONTHS_FR
from domain.money import format_euros
from domain.planning import ATTENDANCE, AppointmentStatus, ContactChannel, MessageStatus
from kernel import reference
from kernel.auth import ROLE_LABELS, Role

PARIS = ZoneInfo("Europe/Paris")
TEMPLATES = Path(__file__).parent / "templates"


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, Timestamp):
        if not value.seconds and not value.nanos:
            return None
        return value.ToDatetime(tzinfo=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def date_fr(value: Any) -> str:
    """dd/mm/yyyy, the day in Europe/Paris; an ISO date string (birth dates) as such."""
    if isinstance(value, str):
        if not value:
            return ""
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    at = _as_datetime(value)
    return at.astimezone(PARIS).strftime("%d/%m/%Y") if at else ""


def datetime_fr(value: Any) -> str:
    at = _as_datetime(value)
    return at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M") if at else ""


def time_fr(value: Any) -> str:
    """HH:MM in Europe/Paris (an appointment's, a session's hours)."""
    at = _as_datetime(value)
    return at.astimezone(PARIS).strftime("%H:%M") if at else ""


def day_fr(value: Any) -> str:
    """« lundi 7 décembre 2026 »: an ISO day string, or an instant's day in Europe/Paris."""
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
    else:
        at = _as_datetime(value)
        if at is None:
            return ""
        day = at.astimezone(PARIS).date()
    weekday = labels.WEEKDAY_LABELS[day.isoweekday()]
    return f"{weekday} {day.day} {MONTHS_FR[day.month - 1]} {day.year}"


def iso(value: Any) -> str:
    at = _as_datetime(value)
    return at.isoformat() if at else ""


def attendance_options(appointment: Any) -> list[tuple[str, str]]:
    """The attendance an agent may record now about an appointment (its day come), as
    (status, French button text)."""
    try:
        current = AppointmentStatus(appointment.status)
    except ValueError:
        return []
    starts = _as_datetime(appointment.starts_at)
    if starts is None or not attendance_due(starts.astimezone(PARIS).date(), datetime.now(PARIS).date()):
        return []
    allowed = ATTENDANCE_FROM[current]
    return [(s.value, labels.APPOINTMENT_STATUS_LABELS[s].capitalize()) for s in ATTENDANCE if s in allowed]


def document_max_bytes(env: Mapping[str, str]) -> int:
    """The supporting documents' size limit as the document service reads it
    (ENTRAIDE_DOCUMENT_MAX_BYTES, 3 MiB by default)."""
    try:
        return int(env.get("ENTRAIDE_DOCUMENT_MAX_BYTES", "") or DEFAULT_DOCUMENT_MAX_BYTES)
    except ValueError:
        return DEFAULT_DOCUMENT_MAX_BYTES


def megabytes(size: int) -> str:
    """« 3 Mo », « 1,5 Mo »."""
    return f"{size / (1024 * 1024):.1f}".replace(".", ",").removesuffix(",0") + " Mo"


def file_size(size: Any) -> str:
    """« 245 ko », « 1,2 Mo » (a document's size)."""
    n = int(size)
    if n < 1024 * 1024:
        return f"{max(1, round(n / 1024))} ko"
    return f"{n / (1024 * 1024):.1f} Mo".replace(".", ",")


def room_label(data: reference.ReferenceData, site: str, code: str) -> str:
    found = data.sites[site].room(code) if site in data.sites else None
    return found.label if found is not None else code


def make_environment(env: Mapping[str, str]) -> Environment:
    data = reference.load(env)
    jinja = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    jinja.filters.update(
        date_fr=date_fr,
        datetime_fr=datetime_fr,
        iso=iso,
        motif=lambda code: data.motifs.get(code, code),
        channel=lambda code: data.arrival_channels.get(code, code),
        commune=lambda code: data.territories.get(code, code),
        outcome=lambda code: data.closure_outcomes.get(code, code),
        scope=lambda code: data.consent_data_scopes.get(code, code),
        stage=labels.stage_label,
        referral_status=lambda code: labels.REFERRAL_STATUS_LABELS.get(code, code),
        referral_reason=lambda code: labels.REFERRAL_REASON_LABELS.get(code, code),
        note_kind=lambda code: labels.NOTE_KIND_LABELS.get(code, code),
        time_fr=time_fr,
        day_fr=day_fr,
        site=lambda code: data.sites[code].label if code in data.sites else code,
        room=lambda code, site: room_label(data, site, code),
        host_kind=lambda code: labels.HOST_KIND_LABELS.get(code, code),
        recurrence=lambda code: labels.RECURRENCE_LABELS.get(code, code),
        exception_kind=lambda code: labels.EXCEPTION_KIND_LABELS.get(code, code),
        appointment_status=lambda code: labels.APPOINTMENT_STATUS_LABELS.get(code, code),
        contact_channel=lambda code: labels.CONTACT_CHANNEL_LABELS.get(code, code),
        message_kind=lambda code: labels.MESSAGE_KIND_LABELS.get(code, code),
        message_status=lambda code: labels.MESSAGE_STATUS_LABELS.get(code, code),
        weekday=lambda number: labels.WEEKDAY_LABELS.get(int(number), str(number)),
        partner_category=lambda code: data.partner_categories.get(code, code),
        role=lambda code: ROLE_LABELS.get(Role(code), code) if code in Role.__members__.values() else code,
        programme_status=lambda code: labels.PROGRAMME_STATUS_LABELS.get(code, code),
        enrolment_status=lambda code: labels.ENROLMENT_STATUS_LABELS.get(code, code),
        presence=lambda code: labels.SESSION_PRESENCE_LABELS.get(code, code),
        goal_status=lambda code: labels.GOAL_STATUS_LABELS.get(code, code),
        participant_outcome=lambda code: labels.PARTICIPANT_OUTCOME_LABELS.get(code, code),
        signal_status=lambda code: labels.SIGNAL_STATUS_LABELS.get(code, code),
        signaller_view=lambda code: labels.SIGNALLER_VIEW_LABELS.get(code, code),
        signaller_kind=lambda code: labels.SIGNALLER_KIND_LABELS.get(code, code),
        # Aides facultatives: euros the French way, and the French word of every code.
        euros=lambda cents: format_euros(int(cents)),
        aid_type=lambda code: data.aid_types[code].label if code in data.aid_types else code,
        aid_nature=lambda code: labels.AID_NATURE_LABELS.get(code, code),
        aid_scale=lambda code: labels.ELIGIBILITY_SCALE_LABELS.get(code, code),
        aid_status=lambda code: labels.AID_STATUS_LABELS.get(code, code),
        aid_decision=lambda code: labels.DECISION_LABELS.get(code, code),
        decision_channel=lambda code: labels.DECISION_CHANNEL_LABELS.get(code, code),
        commission_status=lambda code: labels.COMMISSION_STATUS_LABELS.get(code, code),
        payment_mode=lambda code: labels.PAYMENT_MODE_LABELS.get(code, code),
        payee_kind=lambda code: labels.PAYEE_KIND_LABELS.get(code, code),
        payment_status=lambda code: labels.PAYMENT_STATUS_LABELS.get(code, code),
        loan_status=lambda code: labels.LOAN_STATUS_LABELS.get(code, code),
        loan_incident=lambda code: labels.LOAN_INCIDENT_LABELS.get(code, code),
        loan_bank=lambda code: data.loan_banks.get(code, code),
        refusal_reason=lambda code: data.aid_refusal_reasons.get(code, code),
        document_kind=lambda code: data.document_kinds.get(code, code),
        media_type=lambda code: labels.DOCUMENT_FORMAT_LABELS.get(code, code),
        file_size=file_size,
    )
    jinja.globals.update(
        reference=data,
        # The supporting documents' size limit, as the document service reads it.
        document_limit=megabytes(document_max_bytes(env)),
        stage_labels=labels.STAGE_LABELS,
        statuses=AppointmentStatus,
        message_statuses=MessageStatus,
        contact_channel_codes=ContactChannel,
        attendance_options=attendance_options,
    )
    return jinja
