"""What the group adds to a participant's dossier timeline (GetDossierTimeline): the
rows written with each attendance sheet and goal change (collective_timeline, keyed by
dossier and entry), merged with the dossier's steps by time. Each row names only its
own participant's presence or goal: never another participant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from entraide.v1 import intake_pb2

from kernel.db import Connection
from kernel.timestamps import to_timestamp
from services.intake.collective import store
from services.intake.collective.rules import merge_by_time


async def rows_of(conn: Connection, dossier_id: str) -> list[asyncpg.Record]:
    return await store.timeline_entries(conn, dossier_id)


def merged(
    steps: Sequence[tuple[datetime, intake_pb2.TimelineEntry]], rows: Sequence[asyncpg.Record]
) -> list[intake_pb2.TimelineEntry]:
    """The dossier's steps with the group's entries placed by time (step 0 and no note:
    they are no step of the dossier)."""
    extra = [
        (
            row["at"],
            intake_pb2.TimelineEntry(
                at=to_timestamp(row["at"]),
                kind=row["kind"],
                stage=row["stage"],
                actor=row["actor"],
                summary=row["summary"],
            ),
        )
        for row in rows
    ]
    return merge_by_time(steps, extra)
