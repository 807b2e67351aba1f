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
class ReferenceData:
    motifs: Mapping[str, str]
    arrival_channels: Mapping[str, str]
    territories: Mapping[str, str]
    closure_outcomes: Mapping[str, str]
    consent_data_scopes: Mapping[str, str]
    sites: Mapping[str, Site] = field(default_factory=dict)
    partner_categories: Mapping[str, str] = field(default_factory=dict)

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
    )
