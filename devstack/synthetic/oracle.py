"""The expected figures: what a bilan of generated events must report, computed from the
events themselves (folded as a consumer reads them), never from the generator's plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from entraide.v1 import events_pb2

from devstack.synthetic.mixes import SOLVED
from domain.events import EventType
from domain.vocabulary import REFERRAL_REMINDER
from kernel.events import Event


@dataclass(frozen=True)
class Figures:
    """What a bilan of the generated events must report (computed from the events)."""

    dossiers: int
    people: int
    solved: int
    urgent: int
    by_motif: dict[str, int]
    by_territory: dict[str, int]
    by_channel: dict[str, int]
    by_outcome: dict[str, int]
    referrals: int
    referrals_by_final_status: dict[str, int]
    events_by_type: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def figures(events: Iterable[Event]) -> Figures:
    opened: dict[str, events_pb2.DossierOpened] = {}
    motifs: dict[str, list[str]] = {}
    outcome: dict[str, str] = {}
    referral_status: dict[str, tuple[int, str]] = {}
    types: Counter[str] = Counter()
    for event in events:
        types[event.type] += 1
        if event.type == EventType.DOSSIER_OPENED:
            data = event.parse(events_pb2.DossierOpened)
            opened[data.dossier_id] = data
            motifs.setdefault(data.dossier_id, list(data.motifs))
        elif event.type == EventType.ECOUTE_COMPLETED:
            completed = event.parse(events_pb2.EcouteCompleted)
            if completed.motifs:
                motifs[completed.dossier_id] = list(completed.motifs)
        elif event.type == EventType.DOSSIER_CLOSED:
            closed = event.parse(events_pb2.DossierClosed)
            outcome[closed.dossier_id] = closed.outcome
        elif event.type == EventType.REFERRAL_STATUS_CHANGED:
            changed = event.parse(events_pb2.ReferralStatusChanged)
            if changed.status != REFERRAL_REMINDER:
                current = referral_status.get(changed.referral_id, (0, ""))
                referral_status[changed.referral_id] = max(current, (changed.sequence, changed.status))
    by_outcome = Counter(outcome.values())
    return Figures(
        dossiers=len(opened),
        people=len({d.person_id or d.dossier_id for d in opened.values()}),
        solved=by_outcome.get(SOLVED, 0),
        urgent=sum(1 for d in opened.values() if d.urgent),
        by_motif=dict(sorted(Counter(m for ms in motifs.values() for m in set(ms)).items())),
        by_territory=dict(sorted(Counter(d.territory for d in opened.values()).items())),
        by_channel=dict(sorted(Counter(d.arrival_channel for d in opened.values()).items())),
        by_outcome=dict(sorted(by_outcome.items())),
        referrals=len(referral_status),
        referrals_by_final_status=dict(sorted(Counter(s for _, s in referral_status.values()).items())),
        events_by_type=dict(sorted(types.items())),
    )
