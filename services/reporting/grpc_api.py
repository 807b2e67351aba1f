"""ReportingService gRPC handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from entraide.v1 import common_pb2, reporting_pb2, reporting_pb2_grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext

from kernel import auth
from kernel.db import Pool, acquire_spare
from kernel.errors import InvalidArgument
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from kernel.timestamps import optional_datetime, to_timestamp
from services.reporting import (
    activity,
    aides,
    bilan,
    collective,
    ops,
    queries,
    render_csv,
    render_html,
    signals,
)
from services.reporting.labels import Labels
from services.reporting.shares import Share

MAX_PERIOD = timedelta(days=3660)
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv", render_csv.render),
    "html": ("text/html; charset=utf-8", "html", render_html.render),
}
# Longer than any dossier lives: beyond it the cut-off date would leave the calendar.
MAX_STUCK_AFTER_DAYS = 3650


def _bound(message: Message, field: Literal["from", "to"]) -> datetime | None:
    return optional_datetime(message, field)


def _invalid(field: str, message: str, fr: str, reason: str) -> InvalidArgument:
    return InvalidArgument(message, fr=fr, reason=reason, field=field)


def _period_reversed() -> InvalidArgument:
    return _invalid(
        "from",
        "the period's start must be before its end",
        "Le début de la période doit précéder sa fin.",
        "INVALID_PERIOD",
    )


def _stamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    return to_timestamp(value)


def activity_message(a: activity.ActivityFigures, labels: Labels) -> reporting_pb2.ActivityFigures:
    """Bilan.activity: the figures with their French labels (a partner's latest name, else its id)."""

    def shares(
        items: list[activity.ActivityShare], label: Callable[[activity.ActivityShare], str]
    ) -> list[reporting_pb2.ActivityShare]:
        return [
            reporting_pb2.ActivityShare(
                code=s.code,
                label=label(s),
                appointments=s.appointments,
                visits=s.visits,
                no_shows=s.no_shows,
                no_show_rate=s.no_show_rate,
                previous_visits=s.previous_visits,
                visits_growth=s.visits_growth,
            )
            for s in items
        ]

    return reporting_pb2.ActivityFigures(
        appointments=a.appointments,
        visits=a.visits,
        no_shows=a.no_shows,
        excused_no_shows=a.excused_no_shows,
        no_show_rate=a.no_show_rate,
        previous_appointments=a.previous_appointments,
        previous_visits=a.previous_visits,
        previous_no_shows=a.previous_no_shows,
        visits_growth=a.visits_growth,
        walk_ins=a.walk_ins,
        by_partner=shares(a.by_partner, lambda s: s.name or s.code),
        by_category=shares(a.by_category, lambda s: labels.category(s.code)),
        by_site=shares(a.by_site, lambda s: labels.site(s.code)),
    )


def share_messages(items: list[Share], label: Callable[[str], str]) -> list[reporting_pb2.Share]:
    return [
        reporting_pb2.Share(
            code=s.code,
            label=label(s.code),
            count=s.count,
            percent=s.percent,
            previous_count=s.previous_count,
        )
        for s in items
    ]


def collective_message(c: collective.CollectiveFigures, labels: Labels) -> reporting_pb2.CollectiveFigures:
    """Bilan.collective: the figures, the outcomes with their French labels."""
    return reporting_pb2.CollectiveFigures(
        sessions_held=c.sessions_held,
        participants=c.participants,
        attendance_rate=c.attendance_rate,
        presences=c.presences,
        absences=c.absences,
        goals_reached=c.goals_reached,
        goals_given_up=c.goals_given_up,
        goals_set=c.goals_set,
        by_outcome=share_messages(c.by_outcome, labels.participant_outcome),
        previous_sessions_held=c.previous_sessions_held,
        previous_participants=c.previous_participants,
        waiting_list=c.waiting_list,
    )


def signals_message(s: signals.SignalFigures, labels: Labels) -> reporting_pb2.SignalFigures:
    """Bilan.signals: the figures, communes, signaller kinds and statuses with their French labels."""
    return reporting_pb2.SignalFigures(
        received=s.received,
        qualified=s.qualified,
        dossiers_opened=s.dossiers_opened,
        escalated=s.escalated,
        previous_received=s.previous_received,
        by_commune=share_messages(s.by_commune, labels.commune),
        by_signaller=share_messages(s.by_signaller, labels.signaller_kind),
        by_status=share_messages(s.by_status, labels.signal_status),
    )


def _breakdowns(
    items: Iterable[aides.Breakdown], label: Callable[[str], str]
) -> list[reporting_pb2.AidBreakdown]:
    return [
        reporting_pb2.AidBreakdown(
            code=b.code,
            label=label(b.code),
            requests=b.requests,
            granted=b.granted,
            postponed=b.postponed,
            refused=b.refused,
            asked_cents=b.asked_cents,
            granted_cents=b.granted_cents,
            paid_cents=b.paid_cents,
        )
        for b in items
    ]


def aides_message(a: aides.AidFigures, labels: Labels) -> reporting_pb2.AidFigures:
    """Bilan.aides: the figures in cents; aid types in the deployment's order, with the
    French labels of types, communes, months and refusal reasons."""
    return reporting_pb2.AidFigures(
        requests=a.requests,
        granted=a.granted,
        postponed=a.postponed,
        refused=a.refused,
        withdrawn=a.withdrawn,
        urgent=a.urgent,
        asked_cents=a.asked_cents,
        granted_cents=a.granted_cents,
        paid_cents=a.paid_cents,
        households=a.households,
        by_type=_breakdowns(aides.ordered_types(a.by_type, labels.reference.aid_types), labels.aid_type),
        by_commune=_breakdowns(a.by_commune, labels.commune),
        by_month=_breakdowns(a.by_month, labels.month),
        refusal_reasons=share_messages(a.refusal_reasons, labels.refusal_reason),
        budget_lines=[
            reporting_pb2.BudgetLineFigures(
                budget_line_id=line.budget_line_id,
                territory=line.territory,
                year=line.year,
                label=line.label,
                envelope_cents=line.envelope_cents,
                committed_cents=line.committed_cents,
                paid_cents=line.paid_cents,
                remaining_cents=line.remaining_cents,
            )
            for line in a.budget_lines
        ],
        loans=a.loans,
        loan_cents=a.loan_cents,
        loan_incidents=a.loan_incidents,
    )


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(
        self, pool: Pool, reference: ReferenceData, js: JetStreamContext | None = None, stream: str = ""
    ) -> None:
        self.pool = pool
        self.reference = reference
        self.labels = Labels(reference)
        self.js = js
        self.stream = stream

    def _territories(self, requested: Iterable[str], field: str = "territories") -> list[str]:
        """The requested communes (all of the caller's when none), each checked."""
        claims = auth.current()
        wanted = sorted(set(requested))
        for territory in wanted:
            if territory not in self.reference.territories:
                raise _invalid(
                    field,
                    f"territory {territory[:20]!r} is not a commune of this deployment",
                    f"La commune « {territory[:20]} » n'est pas une commune de ce déploiement"
                    " (liste des communes : `entraide referentiel`).",
                    "UNKNOWN_TERRITORY",
                )
            claims.require_territory(territory)
        return wanted or sorted(claims.territories)

    async def GetMotifCounts(
        self, request: reporting_pb2.GetMotifCountsRequest, context: Context
    ) -> reporting_pb2.MotifCounts:
        territories = self._territories([request.territory] if request.territory else [], "territory")
        period = queries.Period(territories, _bound(request, "from"), _bound(request, "to"))
        if period.start and period.end and period.start >= period.end:
            raise _period_reversed()
        async with self.pool.acquire() as conn:
            total, counts = await queries.motif_counts(conn, period)
        return reporting_pb2.MotifCounts(
            dossiers=total,
            motifs=[
                common_pb2.CategoryCount(code=code, label=self.labels.motif(code), count=n)
                for code, n in counts
            ],
        )

    async def _bilan(self, request: reporting_pb2.GetBilanRequest) -> reporting_pb2.Bilan:
        start, end = _bound(request, "from"), _bound(request, "to")
        if start is None or end is None:
            raise _invalid(
                "to" if start is not None else "from",
                "a bilan needs both 'from' and 'to'",
                "Un bilan demande une date de début et une date de fin.",
                "FIELD_REQUIRED",
            )
        if start >= end:
            raise _period_reversed()
        if end - start > MAX_PERIOD:
            raise _invalid(
                "to",
                "a bilan covers at most ten years",
                "Un bilan couvre au plus dix ans : raccourcissez la période.",
                "PERIOD_TOO_LONG",
            )
        territories = self._territories(request.territories)
        async with self.pool.acquire() as conn, acquire_spare(self.pool) as helper:
            figures = await bilan.compute(conn, territories, start, end, helper=helper)
        return self._bilan_message(figures)

    def _bilan_message(self, f: bilan.BilanFigures) -> reporting_pb2.Bilan:
        def shares(items: list[Share], label: object) -> list[reporting_pb2.Share]:
            assert callable(label)
            return [
                reporting_pb2.Share(
                    code=s.code,
                    label=str(label(s.code)),
                    count=s.count,
                    percent=s.percent,
                    previous_count=s.previous_count,
                )
                for s in items
            ]

        message = reporting_pb2.Bilan(
            to=_stamp(f.end),
            territories=f.territories,
            territory_labels=[self.labels.commune(t) for t in f.territories],
            people_received=f.people_received,
            dossiers_opened=f.dossiers_opened,
            dossiers_solved=f.dossiers_solved,
            dossiers_closed=f.dossiers_closed,
            previous_people_received=f.previous_people_received,
            previous_dossiers_opened=f.previous_dossiers_opened,
            previous_dossiers_solved=f.previous_dossiers_solved,
            previous_dossiers_closed=f.previous_dossiers_closed,
            by_motif=shares(f.by_motif, self.labels.motif),
            by_commune=shares(f.by_commune, self.labels.commune),
            by_channel=shares(f.by_channel, self.labels.channel),
            by_outcome=shares(f.by_outcome, self.labels.outcome),
            stage_durations=[
                reporting_pb2.Duration(
                    stage=d.stage,
                    label=self.labels.stage(d.stage),
                    median_s=d.median_s,
                    p90_s=d.p90_s,
                    dossiers=d.dossiers,
                )
                for d in f.stage_durations
            ],
            partners=[
                reporting_pb2.PartnerFigures(
                    partner_id=p.partner_id,
                    name=p.name,
                    partner_name=p.name,
                    referrals=p.referrals,
                    accepted=p.accepted,
                    completed=p.completed,
                    rejected=p.rejected,
                    expired=p.expired,
                    median_response_s=p.median_response_s,
                    median_completion_s=p.median_completion_s,
                )
                for p in f.partners
            ],
            activity=activity_message(f.activity, self.labels),
            collective=collective_message(f.collective, self.labels),
            signals=signals_message(f.signals, self.labels),
            aides=aides_message(f.aides, self.labels),
        )
        getattr(message, "from").CopyFrom(_stamp(f.start))
        return message

    async def GetBilan(self, request: reporting_pb2.GetBilanRequest, context: Context) -> reporting_pb2.Bilan:
        return await self._bilan(request)

    async def ExportBilan(
        self, request: reporting_pb2.ExportBilanRequest, context: Context
    ) -> reporting_pb2.BilanDocument:
        fmt = (request.format or "csv").lower()
        if fmt not in FORMATS:
            raise _invalid(
                "format",
                "format is 'csv' or 'html'",
                "Le bilan s'exporte au format « csv » (tableur) ou « html » (page web).",
                "INVALID_CHOICE",
            )
        content_type, extension, render = FORMATS[fmt]
        message = await self._bilan(request.bilan)
        start = getattr(message, "from").ToDatetime(tzinfo=UTC)
        end = message.to.ToDatetime(tzinfo=UTC)
        filename = f"bilan_{start:%Y-%m-%d}_{end:%Y-%m-%d}.{extension}"
        return reporting_pb2.BilanDocument(
            content_type=content_type, filename=filename, content=render(message)
        )

    async def GetOpsOverview(
        self, request: reporting_pb2.GetOpsOverviewRequest, context: Context
    ) -> reporting_pb2.OpsOverview:
        if request.stuck_after_days < 0 or request.limit < 0:
            raise _invalid(
                "stuck_after_days" if request.stuck_after_days < 0 else "limit",
                "stuck_after_days and limit are positive",
                "Le nombre de jours sans avancée et le nombre de dossiers listés"
                " ne peuvent pas être négatifs.",
                "OUT_OF_RANGE",
            )
        if request.stuck_after_days > MAX_STUCK_AFTER_DAYS:
            raise _invalid(
                "stuck_after_days",
                f"stuck_after_days is at most {MAX_STUCK_AFTER_DAYS}",
                f"Le nombre de jours sans avancée ne peut pas dépasser {MAX_STUCK_AFTER_DAYS} (dix ans).",
                "OUT_OF_RANGE",
            )
        days = request.stuck_after_days or 30
        limit = min(request.limit or 50, 500)
        territories = self._territories(request.territories)
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            stages = await ops.stage_counts(conn, territories)
            overdue = await ops.overdue(conn, territories, limit)
            stuck = await ops.stuck(conn, territories, now - timedelta(days=days), limit)
            backlog = await ops.outbox_backlog(conn)
            dead = await ops.dead_letters(conn, limit)
            misconfigured = await ops.misconfigured_channels(conn, limit)
        lags = await ops.consumer_lag(self.js, self.stream) if self.js is not None else []

        def listed(item: ops.Listed) -> reporting_pb2.StuckDossier:
            return reporting_pb2.StuckDossier(
                dossier_id=item.dossier_id,
                territory=item.territory,
                stage=item.stage,
                last_progress_at=_stamp(item.last_progress_at),
                reason=item.reason,
            )

        return reporting_pb2.OpsOverview(
            stages=[reporting_pb2.StageCount(stage=s, dossiers=n) for s, n in stages],
            overdue=[listed(i) for i in overdue],
            stuck=[listed(i) for i in stuck],
            consumers=[
                reporting_pb2.ConsumerLag(
                    consumer=lag.consumer,
                    pending=lag.pending,
                    ack_pending=lag.ack_pending,
                    redelivered=lag.redelivered,
                    ack_floor=lag.ack_floor,
                )
                for lag in lags
            ],
            outbox_backlog=backlog,
            dead_letters=[
                reporting_pb2.DeadLetter(
                    consumer=d.consumer,
                    stream_seq=d.stream_seq,
                    subject=d.subject,
                    deliveries=d.deliveries,
                    error_type=d.error_type,
                    received_at=_stamp(d.received_at),
                    service=d.service,
                )
                for d in dead
            ],
            generated_at=_stamp(now),
            misconfigured_channels=[
                reporting_pb2.MisconfiguredChannel(
                    partner_id=m.partner_id,
                    channel=m.channel,
                    reason=m.reason,
                    since=_stamp(m.since),
                    deliveries_held=m.deliveries_held,
                )
                for m in misconfigured
            ],
        )
