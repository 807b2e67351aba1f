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


def iso(value: Any) -> str:
    at = _as_datetime(value)
    return at.isoformat() if at else ""


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
        role=lambda code: ROLE_LABELS.get(Role(code), code) if code in Role.__members__.values() else code,
    )
    jinja.globals.update(reference=data, stage_labels=labels.STAGE_LABELS)
    return jinja
