"""Starting the workflows of imported dossiers still open (the intake activity of
ImportWorkflow, workflows/imports.py). Each one starts from the state its rows give, as
on continue-as-new: stage, step count, dates, the recent steps; its deadlines then run
from there. Idempotent: a dossier whose workflow runs (or ran) keeps it."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.vocabulary import Stage, StepKind
from kernel.db import Pool, system_scope
from services.intake.importing import store
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    ActivityName,
    DossierSpec,
    DossierState,
    HistoryEntry,
    LifecycleTimers,
    StartedPage,
    StartPage,
    WorkflowName,
    dossier_workflow_id,
)
from workflows.dossier import HISTORY_KEPT

# Workflows started at once (each start is one Temporal round trip).
STARTS_IN_FLIGHT = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def spec_of(dossier: asyncpg.Record, steps: list[asyncpg.Record], timers: LifecycleTimers) -> DossierSpec:
    """The dossier's workflow input from its rows: the same state its own workflow would
    carry over on continue-as-new."""
    closed = [s for s in steps if s["kind"] == StepKind.CLOSED]
    opened_by = steps[0]["actor"] if steps else ""
    state = DossierState(
        dossier_id=str(dossier["dossier_id"]),
        territory=dossier["territory"],
        motifs=list(dossier["motifs"]),
        urgent=dossier["urgent"],
        stage=dossier["stage"],
        cycle=dossier["cycle"],
        assigned_agent=dossier["assigned_agent"],
        opened_at=_iso(dossier["opened_at"]),
        last_activity_at=_iso(dossier["last_activity_at"] or dossier["opened_at"]),
        step=dossier["last_step"],
        closed_at=_iso(closed[-1]["at"]) if closed and dossier["stage"] == Stage.CLOTURE else None,
        outcome=dossier["outcome"],
        history=[
            HistoryEntry(s["step"], s["kind"], s["stage"], s["at"].isoformat(), s["actor"])
            for s in steps[-HISTORY_KEPT:]
        ],
    )
    return DossierSpec(
        dossier_id=state.dossier_id,
        territory=state.territory,
        site=dossier["site"],
        motifs=list(state.motifs),
        arrival_channel=dossier["arrival_channel"],
        urgent=state.urgent,
        person_id=str(dossier["person_id"] or ""),
        household_id=str(dossier["household_id"] or ""),
        assigned_agent=state.assigned_agent,
        timers=LifecycleTimers(
            urgent_ecoute_s=dossier["urgent_ecoute_s"] or timers.urgent_ecoute_s,
            suivi_reminder_s=dossier["suivi_reminder_s"] or timers.suivi_reminder_s,
            closure_proposal_s=dossier["closure_proposal_s"] or timers.closure_proposal_s,
            reopen_delay_s=timers.reopen_delay_s,
            max_steps_per_run=timers.max_steps_per_run,
        ),
        opened_by=opened_by,
        carried=state,
    )


class ImportStartActivities:
    def __init__(self, pool: Pool, temporal: Client, timers: LifecycleTimers) -> None:
        self.pool = pool
        self.temporal = temporal
        self.timers = timers

    @activity.defn(name=ActivityName.START_IMPORTED_DOSSIERS)
    async def start_imported_dossiers(self, page: StartPage) -> StartedPage:
        async with system_scope(self.pool, page.territories) as conn:
            dossiers = await store.waiting_for_workflow(conn, page.territories, page.after, page.limit)
            ids = [str(d["dossier_id"]) for d in dossiers]
            steps: dict[str, list[asyncpg.Record]] = defaultdict(list)
            for s in await store.timelines(conn, ids):
                steps[str(s["dossier_id"])].append(s)
        gate = asyncio.Semaphore(STARTS_IN_FLIGHT)

        async def start(dossier: asyncpg.Record) -> None:
            spec = spec_of(dossier, steps[str(dossier["dossier_id"])], self.timers)
            async with gate:
                try:
                    await self.temporal.start_workflow(
                        WorkflowName.DOSSIER,
                        spec,
                        id=dossier_workflow_id(spec.dossier_id),
                        task_queue=DOSSIER_TASK_QUEUE,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        search_attributes=sa.initial(spec.territory, spec.urgent, dossier["stage"]),
                    )
                except WorkflowAlreadyStartedError:
                    pass  # it ran and ended (its reopen delay passed): nothing left to start
            activity.heartbeat()

        await asyncio.gather(*(start(d) for d in dossiers))
        async with system_scope(self.pool, page.territories) as conn:
            await store.workflows_started(conn, ids)
        return StartedPage(started=len(ids), last=ids[-1] if ids else "")
