"""AidService: commission sessions and their agenda."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
from entraide.v1 import aides_pb2, events_pb2

from domain.aides import AidRequestStatus, CommissionStatus
from domain.events import EventType
from kernel import auth, idempotency
from kernel.db import Connection
from kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from kernel.grpc_server import Context
from kernel.timestamps import to_timestamp
from services.intake.aides import store, validation
from services.intake.aides.base import AidBase, not_found, wrong_status
from services.intake.aides.convert import commission_message
from services.intake.caseload import caller_territories
from services.intake.schema import SCHEMA

SCHEDULABLE = frozenset({AidRequestStatus.COMPLETE, AidRequestStatus.POSTPONED, AidRequestStatus.SCHEDULED})


class CommissionHandlers(AidBase):
    async def commission_row(
        self, conn: Connection, commission_id: str, for_update: bool = False
    ) -> asyncpg.Record:
        row = await store.commission(conn, commission_id, for_update)
        if row is None:
            raise not_found("cette commission", "commission_id")
        return row

    async def CreateCommission(
        self, request: aides_pb2.CreateCommissionRequest, context: Context
    ) -> aides_pb2.Commission:
        made = validation.new_commission(request, self.reference)
        claims = auth.current()
        if not claims.covers(made.territory):
            raise PermissionDenied(
                "this commune is not one of yours",
                fr="Cette commune ne fait pas partie de vos communes d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
                field="territory",
            )
        commission_id = validation.derived_id(
            validation.COMMISSION_NAMESPACE, claims.subject, made.territory, request.request_id
        )
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            await store.insert(
                conn,
                "commissions",
                {
                    "commission_id": commission_id,
                    "territory": made.territory,
                    "day": made.day,
                    "starts_at": made.starts_at,
                    "place": made.place,
                    "members": made.members,
                    "status": CommissionStatus.PLANNED.value,
                    "created_by": claims.subject,
                    "created_at": now,
                    "request_key": f"create/{commission_id}",
                },
                "commission_id",
            )
            row = await self.commission_row(conn, commission_id)
        return commission_message(row)

    async def GetCommission(
        self, request: aides_pb2.GetCommissionRequest, context: Context
    ) -> aides_pb2.Commission:
        commission_id = validation.id_of(
            "commission_id", request.commission_id, "l'identifiant de la commission"
        )
        async with self.pool.acquire() as conn:
            row = await self.commission_row(conn, commission_id)
            agenda = await store.agenda(conn, [row["commission_id"]])
        return commission_message(row, agenda)

    async def ListCommissions(
        self, request: aides_pb2.ListCommissionsRequest, context: Context
    ) -> aides_pb2.ListCommissionsResponse:
        territories = caller_territories(list(request.territories))
        try:
            start = date.fromisoformat(request.from_day) if request.from_day else date.today()
            end = date.fromisoformat(request.to_day) if request.to_day else date(9999, 12, 31)
        except ValueError:
            raise InvalidArgument(
                "from_day and to_day are dates YYYY-MM-DD",
                fr="Les dates de début et de fin sont au format AAAA-MM-JJ.",
                reason="INVALID_DATE",
                field="from_day",
            ) from None
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT * FROM {SCHEMA}.commissions
                     WHERE territory = ANY($1::text[]) AND day BETWEEN $2 AND $3
                     ORDER BY day, starts_at LIMIT 200""",
                territories,
                start,
                end,
            )
            agenda = await store.agenda(conn, [r["commission_id"] for r in rows])
        return aides_pb2.ListCommissionsResponse(
            commissions=[
                commission_message(r, [a for a in agenda if a["commission_id"] == r["commission_id"]])
                for r in rows
            ]
        )

    async def ScheduleAidRequest(
        self, request: aides_pb2.ScheduleAidRequestRequest, context: Context
    ) -> aides_pb2.Commission:
        commission_id = validation.id_of(
            "commission_id", request.commission_id, "l'identifiant de la commission"
        )
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        key = idempotency.key_of(request, "aid-schedule")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                commission = await self.commission_row(conn, commission_id)
                row = await self.request_row(conn, aid_request_id, for_update=True)
                if not await store.change_done(conn, key):
                    if row["territory"] != commission["territory"]:
                        raise FailedPrecondition(
                            "the commission is another commune's",
                            fr="Cette commission est celle d'une autre commune que la demande.",
                            reason="OTHER_COMMUNE",
                            field="commission_id",
                        )
                    if commission["status"] != CommissionStatus.PLANNED:
                        raise FailedPrecondition(
                            "the commission was held",
                            fr="Cette commission s'est déjà tenue : inscrivez la demande à une prochaine.",
                            reason="COMMISSION_HELD",
                            field="commission_id",
                        )
                    if AidRequestStatus(row["status"]) not in SCHEDULABLE:
                        raise wrong_status(
                            row["status"], "l'inscrire à l'ordre du jour (instruisez-la d'abord)"
                        )
                    day = commission["day"].strftime("%d/%m/%Y")
                    await self.changed(
                        conn,
                        row,
                        values={
                            "status": AidRequestStatus.SCHEDULED.value,
                            "commission_id": commission["commission_id"],
                        },
                        change="scheduled",
                        actor=auth.current().subject,
                        at=now,
                        request_key=key,
                        summary=f"Demande d'aide inscrite à la commission du {day}",
                        event=(
                            EventType.AID_SCHEDULED,
                            events_pb2.AidScheduled(
                                aid_request_id=aid_request_id,
                                territory=row["territory"],
                                commission_id=commission_id,
                                at=to_timestamp(now),
                                sequence=int(row["version"]) + 1,
                            ),
                        ),
                    )
            agenda = await store.agenda(conn, [commission["commission_id"]])
        await self.tell_current(aid_request_id, context)
        return commission_message(commission, agenda)
