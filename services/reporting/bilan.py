"""The bilan (activity report) of a period and territories, from the fact tables.

Definitions (also in the README):
- dossiers opened: `opened_at` in [start, end);
- people received: distinct persons when events carry one; they do not today
  (DossierOpened has no person key), so each dossier opened counts as one person;
- dossiers solved: last closure in [start, end) with outcome `regle`;
- by motif / commune / channel: over dossiers opened (a dossier with two motifs counts
  in both, so motif percentages may add up to more than 100); by outcome: over
  dossiers closed in the period;
- stage durations (median, 90th percentile, `percentile_cont`) over the dossiers
  opened in the period that went through the stage;
- partners: referrals requested in the period; response = first acknowledgement
  (received, accepted or rejected) minus request; completion = completed minus request.
The previous period is the one of equal length just before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kernel.db import Connection
from services.reporting.projector import LIVE, Tables

STAGES = ("reception", "ecoute", "orientation", "suivi", "total")


@dataclass(frozen=True)
class Share:
    code: str
    count: int
    percent: float
    previous_count: int


@dataclass(frozen=True)
class StageDuration:
    stage: str
    median_s: float
    p90_s: float
    dossiers: int


@dataclass(frozen=True)
class PartnerFigures:
    partner_id: str
    referrals: int
    accepted: int
    completed: int
    rejected: int
    expired: int
    median_response_s: float
    median_completion_s: float


@dataclass
class BilanFigures:
    start: datetime
    end: datetime
    territories: list[str]
    people_received: int = 0
    dossiers_opened: int = 0
    dossiers_solved: int = 0
    dossiers_closed: int = 0
    previous_people_received: int = 0
    previous_dossiers_opened: int = 0
    previous_dossiers_solved: int = 0
    previous_dossiers_closed: int = 0
    by_motif: list[Share] = field(default_factory=list)
    by_commune: list[Share] = field(default_factory=list)
    by_channel: list[Share] = field(default_factory=list)
    by_outcome: list[Share] = field(default_factory=list)
    stage_durations: list[StageDuration] = field(default_factory=list)
    partners: list[PartnerFigures] = field(default_factory=list)


def _percent(count: int, total: int) -> float:
    return round(100.0 * count / total, 1) if total else 0.0


def _shares(current: Mapping[str, int], previous: Mapping[str, int], total: int) -> list[Share]:
    codes = sorted(set(current) | set(previous), key=lambda c: (-current.get(c, 0), -previous.get(c, 0), c))
    return [
        Share(c, current.get(c, 0), _percent(current.get(c, 0), total), previous.get(c, 0)) for c in codes
    ]


async def _opened_counts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> tuple[int, dict[str, int], dict[str, int], dict[str, int]]:
    """Dossiers opened, and their counts by motif, commune and channel (one scan)."""
    rows = await conn.fetch(
        f"""WITH d AS MATERIALIZED (
                SELECT territory, arrival_channel, motifs FROM {tables.dossiers}
                 WHERE territory = ANY($1::text[]) AND opened_at >= $2 AND opened_at < $3)
            SELECT 'total' AS dim, '' AS code, count(*) AS n FROM d
            UNION ALL SELECT 'commune', territory, count(*) FROM d GROUP BY territory
            UNION ALL SELECT 'channel', COALESCE(arrival_channel, ''), count(*)
                        FROM d GROUP BY arrival_channel
            UNION ALL SELECT 'motif', m, count(*) FROM d, unnest(d.motifs) AS m GROUP BY m""",
        territories,
        start,
        end,
    )
    total = 0
    dims: dict[str, dict[str, int]] = {"commune": {}, "channel": {}, "motif": {}}
    for row in rows:
        if row["dim"] == "total":
            total = int(row["n"])
        else:
            dims[row["dim"]][row["code"]] = int(row["n"])
    return total, dims["motif"], dims["commune"], dims["channel"]


async def _closed_counts(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.fetch(
        f"""SELECT COALESCE(outcome, '') AS outcome, count(*) AS n FROM {tables.dossiers}
             WHERE territory = ANY($1::text[]) AND closed_at >= $2 AND closed_at < $3
             GROUP BY outcome""",
        territories,
        start,
        end,
    )
    return {row["outcome"]: int(row["n"]) for row in rows}


async def _durations(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> list[StageDuration]:
    row = await conn.fetchrow(
        f"""WITH d AS MATERIALIZED (
                SELECT extract(epoch FROM ecoute_at - opened_at) AS reception,
                       extract(epoch FROM COALESCE(orientation_at, suivi_at, closed_at) - ecoute_at)
                           AS ecoute,
                       extract(epoch FROM COALESCE(suivi_at, closed_at) - orientation_at) AS orientation,
                       extract(epoch FROM closed_at - suivi_at) AS suivi,
                       extract(epoch FROM closed_at - opened_at) AS total
                  FROM {tables.dossiers}
                 WHERE territory = ANY($1::text[]) AND opened_at >= $2 AND opened_at < $3)
            SELECT {
            ", ".join(
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {s}) AS {s}_median, "
                f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {s}) AS {s}_p90, count({s}) AS {s}_n"
                for s in STAGES
            )
        } FROM d""",
        territories,
        start,
        end,
    )
    assert row is not None
    return [
        StageDuration(s, float(row[f"{s}_median"] or 0.0), float(row[f"{s}_p90"] or 0.0), int(row[f"{s}_n"]))
        for s in STAGES
    ]


async def _partners(
    conn: Connection, tables: Tables, territories: list[str], start: datetime, end: datetime
) -> list[PartnerFigures]:
    rows = await conn.fetch(
        f"""SELECT COALESCE(partner_id, '') AS partner_id, count(*) AS referrals,
                   count(accepted_at) AS accepted, count(completed_at) AS completed,
                   count(rejected_at) AS rejected, count(expired_at) AS expired,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                       LEAST(received_at, accepted_at, rejected_at) - requested_at)) AS response,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                       completed_at - requested_at)) AS completion
              FROM {tables.referrals}
             WHERE territory = ANY($1::text[]) AND requested_at >= $2 AND requested_at < $3
             GROUP BY partner_id ORDER BY count(*) DESC, partner_id""",
        territories,
        start,
        end,
    )
    return [
        PartnerFigures(
            row["partner_id"],
            int(row["referrals"]),
            int(row["accepted"]),
            int(row["completed"]),
            int(row["rejected"]),
            int(row["expired"]),
            float(row["response"] or 0.0),
            float(row["completion"] or 0.0),
        )
        for row in rows
    ]


async def compute(
    conn: Connection, territories: list[str], start: datetime, end: datetime, tables: Tables = LIVE
) -> BilanFigures:
    """Every figure of the bilan, read in one repeatable-read snapshot."""
    previous_start = start - (end - start)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        opened, motifs, communes, channels = await _opened_counts(conn, tables, territories, start, end)
        p_opened, p_motifs, p_communes, p_channels = await _opened_counts(
            conn, tables, territories, previous_start, start
        )
        closed = await _closed_counts(conn, tables, territories, start, end)
        p_closed = await _closed_counts(conn, tables, territories, previous_start, start)
        durations = await _durations(conn, tables, territories, start, end)
        partners = await _partners(conn, tables, territories, start, end)
    closed_total, p_closed_total = sum(closed.values()), sum(p_closed.values())
    return BilanFigures(
        start=start,
        end=end,
        territories=territories,
        people_received=opened,  # no person key in the events: one person per dossier
        dossiers_opened=opened,
        dossiers_solved=closed.get("regle", 0),
        dossiers_closed=closed_total,
        previous_people_received=p_opened,
        previous_dossiers_opened=p_opened,
        previous_dossiers_solved=p_closed.get("regle", 0),
        previous_dossiers_closed=p_closed_total,
        by_motif=_shares(motifs, p_motifs, opened),
        by_commune=_shares(communes, p_communes, opened),
        by_channel=_shares(channels, p_channels, opened),
        by_outcome=_shares(closed, p_closed, closed_total),
        stage_durations=durations,
        partners=partners,
    )
