"""The deployment's reference data: motifs, arrival channels, territories, sites and
their rooms, partner categories.

Kept as data (a JSON file), not code: a deployment points ENTRAIDE_REFERENCE_FILE at
its own file to extend the motif list or declare its communes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from domain.aides import AidNature, EligibilityScale

DEFAULT_FILE = Path(__file__).parent / "reference_data.json"


@dataclass(frozen=True)
class Room:
    code: str
    label: str


@dataclass(frozen=True)
class Site:
    """A place where people are received (an antenne, a Maison de la solidarité), in one
    commune; its rooms are where permanences and appointments are held."""

    code: str
    label: str
    territory: str
    address: str
    rooms: tuple[Room, ...]

    def room(self, code: str) -> Room | None:
        return next((r for r in self.rooms if r.code == code), None)


@dataclass(frozen=True)
class AidTypeRef:
    """An aid type of the deployment: how it is given, its ceilings (0: none) and the
    eligibility scale with its threshold (0: none), money in cents."""

    code: str
    label: str
    nature: AidNature
    ceiling_per_request_cents: int
    ceiling_per_household_year_cents: int
    scale: EligibilityScale
    threshold_cents: int


@dataclass(frozen=True)
class ReferenceData:
    motifs: Mapping[str, str]
    arrival_channels: Mapping[str, str]
    territories: Mapping[str, str]
    closure_outcomes: Mapping[str, str]
    consent_data_scopes: Mapping[str, str]
    sites: Mapping[str, Site] = field(default_factory=dict)
    partner_categories: Mapping[str, str] = field(default_factory=dict)
    # Aides facultatives (domain.aides): the deployment's aid types, refusal reasons,
    # kinds of supporting document and the micro-credit's partner banks.
    aid_types: Mapping[str, AidTypeRef] = field(default_factory=dict)
    aid_refusal_reasons: Mapping[str, str] = field(default_factory=dict)
    document_kinds: Mapping[str, str] = field(default_factory=dict)
    loan_banks: Mapping[str, str] = field(default_factory=dict)

    def sites_of(self, territories: Iterable[str]) -> list[Site]:
        wanted = set(territories)
        return [s for s in self.sites.values() if s.territory in wanted]


def load(env: Mapping[str, str]) -> ReferenceData:
    path = Path(env.get("ENTRAIDE_REFERENCE_FILE", str(DEFAULT_FILE)))
    raw = json.loads(path.read_text(encoding="utf-8"))

    def table(key: str) -> dict[str, str]:
        return {item["code"]: item["label"] for item in raw.get(key, [])}

    return ReferenceData(
        motifs=table("motifs"),
        arrival_channels=table("arrival_channels"),
        territories=table("territories"),
        closure_outcomes=table("closure_outcomes"),
        consent_data_scopes=table("consent_data_scopes"),
        sites={
            item["code"]: Site(
                code=item["code"],
                label=item["label"],
                territory=item["territory"],
                address=item.get("address", ""),
                rooms=tuple(Room(r["code"], r["label"]) for r in item.get("rooms", [])),
            )
            for item in raw.get("sites", [])
        },
        partner_categories=table("partner_categories"),
        aid_types={
            item["code"]: AidTypeRef(
                code=item["code"],
                label=item["label"],
                nature=AidNature(item["nature"]),
                ceiling_per_request_cents=int(item.get("ceiling_per_request_cents", 0)),
                ceiling_per_household_year_cents=int(item.get("ceiling_per_household_year_cents", 0)),
                scale=EligibilityScale(item.get("scale", "none")),
                threshold_cents=int(item.get("threshold_cents", 0)),
            )
            for item in raw.get("aid_types", [])
        },
        aid_refusal_reasons=table("aid_refusal_reasons"),
        document_kinds=table("document_kinds"),
        loan_banks=table("loan_banks"),
    )
