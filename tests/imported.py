"""An imported row, and the rows the import writes for it, as the import tests build them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.vocabulary import Stage
from services.intake.importing.plan import DossierPlan
from services.intake.importing.rows import ImportedRow

PARIS_NOON = "T12:00:00+01:00"


def day(iso: str) -> datetime:
    """A day of the file, as the import takes it (noon in Paris)."""
    return datetime.fromisoformat(iso + PARIS_NOON)


def imported_row(**overrides: object) -> ImportedRow:
    """Opened 03/02/2024, écoute 05/02, suivi 20/02, closed 20/03 with « regle »."""
    base: dict[str, object] = dict(
        line=2,
        key="55029\x00ref\x00D-1",
        territory="55029",
        site="",
        motifs=["logement"],
        arrival_channel="telephone",
        urgent=False,
        assigned_agent="",
        opened_at=day("2024-02-03"),
        stages=[(Stage.ECOUTE, day("2024-02-05")), (Stage.SUIVI, day("2024-02-20"))],
        closed_at=day("2024-03-20"),
        outcome="regle",
        person=None,
        household=None,
    )
    base.update(overrides)
    return ImportedRow(**base)  # type: ignore[arg-type]


def stored(p: DossierPlan, **dossier: object) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dossier row and its timeline rows as services.intake.importing.store writes them
    (the columns starts.spec_of reads), `dossier` overriding columns."""
    row = p.row
    columns: dict[str, Any] = {
        "dossier_id": p.dossier_id,
        "territory": row.territory,
        "motifs": row.motifs,
        "urgent": row.urgent,
        "stage": p.stage,
        "cycle": 0,
        "assigned_agent": row.assigned_agent,
        "opened_at": row.opened_at,
        "last_activity_at": p.last_activity_at,
        "last_step": len(p.steps),
        "outcome": row.outcome or "",
        "site": row.site,
        "arrival_channel": row.arrival_channel,
        "person_id": None,
        "household_id": None,
        "urgent_ecoute_s": None,
        "suivi_reminder_s": None,
        "closure_proposal_s": None,
    }
    columns.update(dossier)
    opened = {"step": 0, "kind": "opened", "stage": "reception", "at": row.opened_at, "actor": p.actor}
    steps = [opened] + [
        {
            "step": t.step,
            "kind": t.kind,
            "stage": t.to_stage,
            "at": datetime.fromisoformat(t.at),
            "actor": t.actor,
        }
        for t in p.steps
    ]
    return columns, steps
