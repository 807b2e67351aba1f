"""SignalService handlers, served by the intake process beside IntakeService (the
dossier opened from a signal goes through IntakeService's OpenDossier, the person
through CreatePerson's internals).

Each change writes the signal's row and its event in one transaction with intake's
outbox, then tells the signal's workflow (started at submission, told when qualified).
A retry after the row was written finds it (the signal's id derives from territory,
caller and request id; a qualification's request key is stored with it) and sends
the same start or signal again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from entraide.v1 import events_pb2, intake_pb2, signals_pb2, signals_pb2_grpc
from google.protobuf.message import Message
from temporalio.client import Client

from domain.events import EventType
from domain.labels_fr import SIGNAL_STATUS_LABELS
from domain.signals import DEFAULT_CONTACT_ATTEMPTS, DEFAULT_ESCALATION_DAYS, SignalStatus
from kernel import auth, idempotency, outbox
from kernel.db import Connection, ScopedPool
from kernel.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from kernel.events import new_event, step_event_id
from kernel.grpc_server import Context, remaining
from kernel.reference import ReferenceData
from kernel.settings import Settings
from kernel.timestamps import to_timestamp
from services.intake import caseload, people_validation, persons
from services.intake import validation as intake_validation
from services.intake.grpc_api import IntakeServicer
from services.intake.schema import SCHEMA
from services.intake.signals import rules, store, validation, workflow_calls
from workflows.contracts import signal_workflow_id

SOURCE = "entraide/intake"


@dataclass(frozen=True)
class SignalSettings:
    """The deployment's escalation delay and the attempts before « unreachable »."""

    escalation_s: float = DEFAULT_ESCALATION_DAYS * 86400.0
    contact_attempts: int = DEFAULT_CONTACT_ATTEMPTS


def signal_settings(settings: Settings) -> SignalSettings:
    """ENTRAIDE_SIGNAL_ESCALATION_S and ENTRAIDE_SIGNAL_ATTEMPTS (docs/signals.md)."""
    defaults = SignalSettings()
    return SignalSettings(
        escalation_s=settings.seconds("signal_escalation", defaults.escalation_s),
        contact_attempts=int(settings.env.get("ENTRAIDE_SIGNAL_ATTEMPTS", defaults.contact_attempts)),
    )


def receipt(row: asyncpg.Record) -> signals_pb2.SignalReceipt:
    """What a signaller reads: never the agents' work, the dossier or the person."""
    return signals_pb2.SignalReceipt(
        signal_id=str(row["signal_id"]),
        territory=row["territory"],
        status=rules.signaller_view(row["status"], row["contact_attempts"]).value,
        submitted_at=to_timestamp(row["submitted_at"]),
    )


def signal_message(row: asyncpg.Record) -> signals_pb2.Signal:
    message = signals_pb2.Signal(
        signal_id=str(row["signal_id"]),
        territory=row["territory"],
        signaller_kind=row["signaller_kind"],
        signaller_label=row["signaller_label"],
        first_name=row["first_name"] or "",
        last_name=row["last_name"] or "",
        phone=row["phone"] or "",
        email=row["email"] or "",
        address_line=row["address_line"] or "",
        description=row["description"],
        consent_to_contact=row["consent_to_contact"],
        status=row["status"],
        contact_attempts=row["contact_attempts"],
        escalated=row["escalated_at"] is not None,
        dossier_id=str(row["dossier_id"] or ""),
        submitted_at=to_timestamp(row["submitted_at"]),
        qualified_by=row["qualified_by"] or "",
    )
    if row["qualified_at"] is not None:
        message.qualified_at.CopyFrom(to_timestamp(row["qualified_at"]))
    return message


async def _event(
    conn: Connection, event_type: EventType, signal_id: str, payload: Message, at: datetime
) -> None:
    event = new_event(
        event_type,
        SOURCE,
        signal_id,
        payload,
        event_id=step_event_id(signal_workflow_id(signal_id), event_type),
        time=at,
    )
    await outbox.write(conn, SCHEMA, event)


def _not_found() -> NotFound:
    return NotFound(
        "no signal with this id",
        fr="Aucun signalement ne porte cet identifiant : vérifiez-le (liste : ListSignals).",
        reason="SIGNAL_NOT_FOUND",
        field="signal_id",
    )


def _already_qualified(row: asyncpg.Record) -> FailedPrecondition:
    label = SIGNAL_STATUS_LABELS[SignalStatus(row["status"])]
    return FailedPrecondition(
        f"this signal is already qualified ({row['status']})",
        fr=f"Ce signalement est déjà qualifié (« {label} ») : il ne peut pas l'être de nouveau.",
        reason="SIGNAL_ALREADY_QUALIFIED",
    )


class SignalServicer(signals_pb2_grpc.SignalServiceServicer):
    def __init__(
        self,
        pool: ScopedPool,
        temporal: Client,
        reference: ReferenceData,
        intake: IntakeServicer,
        settings: SignalSettings,
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.reference = reference
        # OpenDossier's own path for the dossier opened from a signal.
        self.intake = intake
        self.settings = settings

    # ---- the signallers ----------------------------------------------------------------
    async def SubmitSignal(
        self, request: signals_pb2.SubmitSignalRequest, context: Context
    ) -> signals_pb2.SignalReceipt:
        new = validation.new_signal(request, self.reference)
        claims = auth.current()
        if not claims.covers(new.territory):
            raise PermissionDenied(
                f"the commune {new.territory!r} is not one of yours (entraide_territories)",
                fr=f"Vous ne pouvez signaler que pour les communes que vous couvrez : la commune"
                f" « {self.reference.territories[new.territory]} » n'en fait pas partie.",
                reason="TERRITORY_NOT_ASSIGNED",
                field="territory",
            )
        kind = rules.signaller_kind(claims.role)
        signal_id = validation.derived_id(
            validation.SIGNAL_ID_NAMESPACE, new.territory, claims.subject, new.request_id
        )
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row, created = await store.insert(
                    conn, signal_id, new, claims.subject, kind.value, claims.name or claims.subject, now
                )
                if not created and not store.same_request(row, new):
                    raise AlreadyExists(
                        "this request_id already submitted a different signal; use a new request_id",
                        fr="Cet identifiant de demande a déjà servi à un autre signalement :"
                        " recommencez avec un nouvel identifiant de demande.",
                        reason="REQUEST_ID_REUSED",
                        field="request_id",
                    )
                if created:
                    payload = events_pb2.SignalSubmitted(
                        signal_id=signal_id,
                        territory=new.territory,
                        signaller_kind=kind.value,
                        at=to_timestamp(now),
                    )
                    await _event(conn, EventType.SIGNAL_SUBMITTED, signal_id, payload, now)
        await workflow_calls.start(self.temporal, row, self.settings.escalation_s, remaining(context))
        return receipt(row)

    async def ListMySignals(
        self, request: signals_pb2.ListMySignalsRequest, context: Context
    ) -> signals_pb2.ListMySignalsResponse:
        async with self.pool.acquire() as conn:
            rows = await store.mine(conn, auth.current().subject)
        return signals_pb2.ListMySignalsResponse(signals=[receipt(r) for r in rows])

    # ---- the CIAS --------------------------------------------------------------------
    async def ListSignals(
        self, request: signals_pb2.ListSignalsRequest, context: Context
    ) -> signals_pb2.ListSignalsResponse:
        territories = caseload.caller_territories(list(dict.fromkeys(request.territories)))
        async with self.pool.acquire() as conn:
            rows = await store.queue(conn, territories, request.include_closed)
        return signals_pb2.ListSignalsResponse(signals=[signal_message(r) for r in rows])

    async def GetSignal(self, request: signals_pb2.GetSignalRequest, context: Context) -> signals_pb2.Signal:
        signal_id = validation.signal_id(request.signal_id)
        async with self.pool.acquire() as conn:
            return signal_message(await self._signal(conn, signal_id))

    async def RecordContactAttempt(
        self, request: signals_pb2.RecordContactAttemptRequest, context: Context
    ) -> signals_pb2.Signal:
        signal_id = validation.signal_id(request.signal_id)
        claims = auth.current()
        attempt_id = validation.derived_id(
            validation.ATTEMPT_ID_NAMESPACE, signal_id, idempotency.key_of(request, "signal-attempt")
        )
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self._signal(conn, signal_id, for_update=True)
                if row["status"] != SignalStatus.RECEIVED:
                    raise _already_qualified(row)
                await store.add_attempt(
                    conn, attempt_id, signal_id, row["territory"], claims.subject, datetime.now(UTC)
                )
                row = await self._signal(conn, signal_id)
        return signal_message(row)

    async def QualifySignal(
        self, request: signals_pb2.QualifySignalRequest, context: Context
    ) -> signals_pb2.Signal:
        signal_id = validation.signal_id(request.signal_id)
        status = validation.qualified_status(request.status)
        request_key = idempotency.key_of(request, "qualify-signal")
        async with self.pool.acquire() as conn:
            row = await self._signal(conn, signal_id)
        if row["status"] != SignalStatus.RECEIVED:
            if request_key and row["request_key"] == request_key:
                # This very request qualified it: its workflow may not have been told.
                await workflow_calls.qualified(self.temporal, signal_id, remaining(context))
                return signal_message(row)
            raise _already_qualified(row)
        if status is SignalStatus.UNREACHABLE and not rules.may_be_unreachable(
            row["contact_attempts"], self.settings.contact_attempts
        ):
            raise FailedPrecondition(
                f"unreachable needs {self.settings.contact_attempts} contact attempts"
                f" (recorded: {row['contact_attempts']})",
                fr=f"Un signalement ne peut être qualifié « injoignable » qu'après"
                f" {self.settings.contact_attempts} tentatives de contact (enregistrées :"
                f" {row['contact_attempts']}) : enregistrez chaque appel sans réponse.",
                reason="NOT_ENOUGH_ATTEMPTS",
                field="status",
            )
        dossier_id = person_id = ""
        if status is SignalStatus.CONTACTED:
            dossier_id, person_id = await self._open_dossier(row, request, context)
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                locked = await self._signal(conn, signal_id, for_update=True)
                if locked["status"] != SignalStatus.RECEIVED:
                    raise _already_qualified(locked)  # another agent's qualification came first
                row = await store.qualify(
                    conn, signal_id, status, auth.current().subject, now, request_key, dossier_id, person_id
                )
                payload = events_pb2.SignalQualified(
                    signal_id=signal_id,
                    territory=row["territory"],
                    signaller_kind=row["signaller_kind"],
                    status=status.value,
                    dossier_id=dossier_id,
                    at=to_timestamp(now),
                )
                await _event(conn, EventType.SIGNAL_QUALIFIED, signal_id, payload, now)
        await workflow_calls.qualified(self.temporal, signal_id, remaining(context))
        return signal_message(row)

    # ---- shared ----------------------------------------------------------------------
    async def _signal(self, conn: Connection, signal_id: str, for_update: bool = False) -> asyncpg.Record:
        """NOT_FOUND for no such signal, PERMISSION_DENIED for another commune's."""
        territory = await store.signal_territory(conn, signal_id)
        if territory is None:
            raise _not_found()
        if not auth.current().covers(territory):
            raise PermissionDenied(
                "this signal belongs to a commune you are not assigned to",
                fr="Ce signalement relève d'une commune qui ne fait pas partie de vos communes"
                " d'intervention.",
                reason="TERRITORY_NOT_ASSIGNED",
            )
        row = await store.get(conn, signal_id, for_update=for_update)
        assert row is not None  # the caller covers its commune: row-level security shows it
        return row

    async def _open_dossier(
        self, row: asyncpg.Record, request: signals_pb2.QualifySignalRequest, context: Context
    ) -> tuple[str, str]:
        """The person (from the signal's identity unless person_id names one) and the
        dossier, through OpenDossier's own path; both ids derive from the signal, so a
        retry, by anyone, finds them instead of opening a second dossier."""
        signal_id = str(row["signal_id"])
        opening = intake_pb2.OpenDossierRequest(
            territory=row["territory"],
            site=request.site,
            motifs=list(request.motifs),
            arrival_channel=rules.arrival_channel(row["signaller_kind"]),
            urgent=request.urgent,
            person_id=request.person_id,
            request_id=validation.dossier_request_id(signal_id),
        )
        # Every fault of the opening before anything is written (a person, a dossier).
        intake_validation.open_dossier_spec(opening, self.reference, self.intake.timers)
        if not request.person_id:
            if not (row["first_name"] and row["last_name"]):
                raise FailedPrecondition(
                    "the signal gives no first and last name: create the person and give person_id",
                    fr="Le signalement ne donne pas le prénom et le nom de la personne : enregistrez-la"
                    " d'abord (fiche personne), puis indiquez son identifiant.",
                    reason="PERSON_REQUIRED",
                    field="person_id",
                )
            new = people_validation.new_person(validation.person_request(row), self.reference)
            async with self.pool.acquire() as conn:
                async with conn.transaction():
                    person, _ = await persons.create_person(conn, new)
            opening.person_id = str(person["person_id"])
        opened = await self.intake.OpenDossier(opening, context)
        return opened.dossier.dossier_id, opening.person_id
