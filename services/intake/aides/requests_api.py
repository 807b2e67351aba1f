"""AidService: the aid types, a request's opening, reading, instruction and withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime

from entraide.v1 import aides_pb2, events_pb2

from domain.aides import AidRequestStatus, quotient_familial, reste_a_vivre
from domain.events import EventType
from domain.money import format_euros
from kernel import auth, idempotency
from kernel.errors import FailedPrecondition
from kernel.grpc_server import Context, remaining
from kernel.timestamps import to_timestamp
from services.intake.aides import store, validation, workflow_calls
from services.intake.aides.base import AidBase, emit, not_found, not_yours, wrong_status
from services.intake.aides.convert import aid_request_message, aid_type_message
from services.intake.aides.loans_view import loan_message
from services.intake.caseload import caller_territories
from services.intake.schema import SCHEMA
from workflows.contracts import AidRequestInput, aid_request_workflow_id

OPEN_FOR_WITHDRAWAL = frozenset(
    {
        AidRequestStatus.SUBMITTED,
        AidRequestStatus.INCOMPLETE,
        AidRequestStatus.COMPLETE,
        AidRequestStatus.SCHEDULED,
        AidRequestStatus.POSTPONED,
    }
)
INSTRUCTABLE = frozenset({AidRequestStatus.SUBMITTED, AidRequestStatus.INCOMPLETE, AidRequestStatus.COMPLETE})


class RequestHandlers(AidBase):
    async def ListAidTypes(
        self, request: aides_pb2.ListAidTypesRequest, context: Context
    ) -> aides_pb2.ListAidTypesResponse:
        return aides_pb2.ListAidTypesResponse(
            aid_types=[aid_type_message(t) for t in self.reference.aid_types.values()]
        )

    async def CreateAidRequest(
        self, request: aides_pb2.CreateAidRequestRequest, context: Context
    ) -> aides_pb2.AidRequest:
        made = validation.new_request(request, self.reference)
        claims = auth.current()
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            dossier = await store.dossier(conn, made.dossier_id)
            if dossier is None:
                if await store.territory_of(conn, "dossier_territory", made.dossier_id) is not None:
                    raise not_yours("ce dossier", "dossier_id")
                raise not_found("ce dossier", "dossier_id")
            if dossier["person_id"] is None:
                raise FailedPrecondition(
                    "the dossier has no person",
                    fr="Ce dossier n'est rattaché à aucune personne : rattachez-le avant une demande d'aide.",
                    reason="PERSON_REQUIRED",
                    field="dossier_id",
                )
            aid_request_id = validation.derived_id(
                validation.AID_REQUEST_NAMESPACE, claims.subject, dossier["territory"], request.request_id
            )
            household = made.budget
            persons = household.adults + household.children
            values: dict[str, object] = {
                "aid_request_id": aid_request_id,
                "dossier_id": dossier["dossier_id"],
                "person_id": dossier["person_id"],
                "territory": dossier["territory"],
                "aid_type": made.aid_type.code,
                "status": AidRequestStatus.SUBMITTED.value,
                "amount_asked_cents": made.amount_asked_cents,
                "reason": made.reason,
                "resources_cents": household.resources_cents,
                "charges_cents": household.charges_cents,
                "adults": household.adults,
                "children": household.children,
                "reste_a_vivre_cents": reste_a_vivre(
                    household.resources_cents, household.charges_cents, persons
                ),
                "quotient_familial_cents": quotient_familial(
                    household.resources_cents, household.adults, household.children
                ),
                "created_by": claims.subject,
                "created_at": now,
                "updated_at": now,
                "request_key": f"create/{aid_request_id}",
            }
            async with conn.transaction():
                if await store.insert(conn, "aid_requests", values, "aid_request_id"):
                    await store.insert_change(
                        conn, aid_request_id, 1, dossier["territory"], "created", claims.subject, now, ""
                    )
                    await store.put_timeline(
                        conn,
                        dossier["dossier_id"],
                        f"{aid_request_id}:1",
                        aid_request_id,
                        dossier["territory"],
                        "aid_created",
                        claims.subject,
                        now,
                        f"Demande d'aide déposée : {made.aid_type.label},"
                        f" {format_euros(made.amount_asked_cents)}",
                    )
                    await emit(
                        conn,
                        EventType.AID_REQUESTED,
                        aid_request_id,
                        f"{aid_request_workflow_id(aid_request_id)}/1",
                        events_pb2.AidRequested(
                            aid_request_id=aid_request_id,
                            dossier_id=str(dossier["dossier_id"]),
                            person_id=str(dossier["person_id"]),
                            territory=dossier["territory"],
                            aid_type=made.aid_type.code,
                            amount_asked_cents=made.amount_asked_cents,
                            at=to_timestamp(now),
                        ),
                        now,
                    )
            row = await self.request_row(conn, aid_request_id)
        await workflow_calls.start(
            self.temporal,
            AidRequestInput(
                aid_request_id=aid_request_id,
                dossier_id=str(row["dossier_id"]),
                territory=row["territory"],
                status=AidRequestStatus.SUBMITTED.value,
                changed_at=row["created_at"].isoformat(),
                instruction_s=self.settings.instruction_s,
                commission_s=self.settings.commission_s,
                payment_s=self.settings.payment_s,
            ),
            remaining(context),
        )
        return aid_request_message(row, self.reference)

    async def GetAidRequest(
        self, request: aides_pb2.GetAidRequestRequest, context: Context
    ) -> aides_pb2.AidRequest:
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        async with self.pool.acquire() as conn:
            row = await self.request_row(conn, aid_request_id)
            payments = await store.payments_of(conn, [row["aid_request_id"]])
            granted = 0
            if row["decided_at"] is not None:
                granted = await store.household_granted(
                    conn, row["person_id"], row["aid_type"], row["decided_at"].year, aid_request_id
                )
            loan = await conn.fetchrow(
                f"SELECT * FROM {SCHEMA}.loans WHERE aid_request_id = $1", row["aid_request_id"]
            )
            incidents = (
                await conn.fetch(
                    f"SELECT * FROM {SCHEMA}.loan_incidents WHERE loan_id = $1 ORDER BY seq", loan["loan_id"]
                )
                if loan is not None
                else []
            )
        message = aid_request_message(row, self.reference, payments, granted)
        if loan is not None:
            message.loan.CopyFrom(loan_message(loan, list(incidents), self.reference))
        return message

    async def ListAidRequests(
        self, request: aides_pb2.ListAidRequestsRequest, context: Context
    ) -> aides_pb2.ListAidRequestsResponse:
        dossier_id = (
            validation.id_of("dossier_id", request.dossier_id, "l'identifiant du dossier")
            if request.dossier_id
            else ""
        )
        statuses = [s for s in request.statuses if s in AidRequestStatus.__members__.values()]
        territories = caller_territories(list(request.territories))
        page = min(max(request.page_size or 50, 1), 200)
        async with self.pool.acquire() as conn:
            rows = await store.aid_requests(
                conn, dossier_id=dossier_id, territories=territories, statuses=statuses, limit=page
            )
            payments = await store.payments_of(conn, [r["aid_request_id"] for r in rows])
        return aides_pb2.ListAidRequestsResponse(
            aid_requests=[aid_request_message(r, self.reference, payments) for r in rows]
        )

    async def RecordInstruction(
        self, request: aides_pb2.RecordInstructionRequest, context: Context
    ) -> aides_pb2.AidRequest:
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        made = validation.instruction(request, self.reference)
        key = idempotency.key_of(request, "aid-instruction")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.request_row(conn, aid_request_id, for_update=True)
                if await store.change_done(conn, key):
                    pass
                else:
                    if AidRequestStatus(row["status"]) not in INSTRUCTABLE:
                        raise wrong_status(row["status"], "l'instruire")
                    status = AidRequestStatus.COMPLETE if made.complete else AidRequestStatus.INCOMPLETE
                    values: dict[str, object] = {
                        "status": status.value,
                        "missing_documents": made.missing,
                        "instruction_note": made.note,
                    }
                    if made.budget is not None:
                        b = made.budget
                        values |= {
                            "resources_cents": b.resources_cents,
                            "charges_cents": b.charges_cents,
                            "adults": b.adults,
                            "children": b.children,
                            "reste_a_vivre_cents": reste_a_vivre(
                                b.resources_cents, b.charges_cents, b.adults + b.children
                            ),
                            "quotient_familial_cents": quotient_familial(
                                b.resources_cents, b.adults, b.children
                            ),
                        }
                    missing = ", ".join(self.reference.document_kinds[c] for c in made.missing)
                    summary = (
                        "Demande d'aide instruite : complète"
                        if made.complete
                        else f"Demande d'aide instruite : incomplète (pièces manquantes : {missing})"
                    )
                    await self.changed(
                        conn,
                        row,
                        values=values,
                        change="instructed",
                        actor=auth.current().subject,
                        at=now,
                        request_key=key,
                        summary=summary,
                        event=(
                            EventType.AID_INSTRUCTED,
                            events_pb2.AidInstructed(
                                aid_request_id=aid_request_id,
                                territory=row["territory"],
                                complete=made.complete,
                                missing_documents=len(made.missing),
                                at=to_timestamp(now),
                                sequence=int(row["version"]) + 1,
                            ),
                        ),
                    )
            row = await self.request_row(conn, aid_request_id)
        await self.tell_current(aid_request_id, context)
        return aid_request_message(row, self.reference)

    async def WithdrawAidRequest(
        self, request: aides_pb2.WithdrawAidRequestRequest, context: Context
    ) -> aides_pb2.AidRequest:
        aid_request_id = validation.id_of(
            "aid_request_id", request.aid_request_id, "l'identifiant de la demande"
        )
        key = idempotency.key_of(request, "aid-withdraw")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self.request_row(conn, aid_request_id, for_update=True)
                if not await store.change_done(conn, key):
                    if AidRequestStatus(row["status"]) not in OPEN_FOR_WITHDRAWAL:
                        raise wrong_status(row["status"], "la retirer")
                    await self.changed(
                        conn,
                        row,
                        values={"status": AidRequestStatus.WITHDRAWN.value, "commission_id": None},
                        change="withdrawn",
                        actor=auth.current().subject,
                        at=now,
                        request_key=key,
                        summary="Demande d'aide retirée par la personne",
                        event=(
                            EventType.AID_WITHDRAWN,
                            events_pb2.AidWithdrawn(
                                aid_request_id=aid_request_id,
                                territory=row["territory"],
                                at=to_timestamp(now),
                                sequence=int(row["version"]) + 1,
                            ),
                        ),
                    )
            row = await self.request_row(conn, aid_request_id)
        await self.tell_current(aid_request_id, context)
        return aid_request_message(row, self.reference)
