"""The deployment's reference data: motifs, arrival channels, territories.

Kept as data (a JSON file), not code: a deployment points ENTRAIDE_REFERENCE_FILE at
its own file to extend the motif list or declare its communes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).parent / "reference_data.json"


@dataclass(frozen=True)
class ReferenceData:
    motifs: Mapping[str, str]
    arrival_channels: Mapping[str, str]
    territories: Mapping[str, str]
    closure_outcomes: Mapping[str, str]
    consent_data_scopes: Mapping[str, str]


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
    )
