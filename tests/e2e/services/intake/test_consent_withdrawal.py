"""A person withdraws a consent (RevokeConsent): nothing new leaves for that partner
under it, referrals in flight that it alone covered are cancelled with the reason and
the partner sees it, the dossier's timeline and the access log show it, the export keeps
the history. The whole stack: intake, referral, the workflows, NATS."""

from __future__ import annotations

import json
import uuid

import grpc
from entraide.v1 import intake_pb2, intake_pb2_grpc, referral_pb2

from kernel.auth import Role
from kernel.rich_status import describe
from tests.e2e.services.referral.test_referrals import (
    World,
    create_request,
    oriented_dossier,
    refused,
    world,
)
from tests.helpers import eventually

__all__ = ["world"]  # the fixture, imported


async def consents_of(w: World, dossier_id: str) -> list[intake_pb2.Consent]:
    dossier = await w.intake.GetDossier(intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10)
    listed = await w.intake.ListConsents(
        intake_pb2.ListConsentsRequest(person_id=dossier.person_id), timeout=10
    )
    return list(listed.consents)


async def revoke(
    w: World, consent_id: str, request_id: str = "", channel: str = "written"
) -> intake_pb2.Consent:
    return await w.intake.RevokeConsent(
        intake_pb2.RevokeConsentRequest(consent_id=consent_id, channel=channel, request_id=request_id),
        timeout=15,
    )


async def status_of(w: World, referral_id: str) -> tuple[str, str]:
    found = await w.agent.GetReferral(referral_pb2.GetReferralRequest(referral_id=referral_id), timeout=10)
    return found.status, found.reason


async def timeline(w: World, dossier_id: str) -> list[str]:
    reply = await w.intake.GetDossierTimeline(intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10)
    return [e.summary for e in reply.entries]


async def test_withdrawal_cancels_what_it_covered_and_stops_what_comes_next(world: World) -> None:
    w = world
    dossier_id = await oriented_dossier(w, consent_partner="caf-meuse", scope=("motif", "identite"))
    (caf_consent,) = await consents_of(w, dossier_id)
    person_id = caf_consent.person_id
    await w.intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=person_id,
            dossier_id=dossier_id,
            partner_id="cresus-grand-est",
            data_scope=["motif", "identite", "contact"],
            kind="consent",
            channel="oral",
        ),
        timeout=10,
    )
    caf_referral = (await w.agent.CreateReferral(create_request(dossier_id), timeout=20)).referral_id
    await w.partner("caf-meuse").AcknowledgeReferral(
        referral_pb2.ReferralActionRequest(referral_id=caf_referral), timeout=15
    )
    cresus_referral = (
        await w.agent.CreateReferral(
            create_request(dossier_id, partner_id="cresus-grand-est", motif="difficultes_financieres"),
            timeout=20,
        )
    ).referral_id

    request_id = uuid.uuid4().hex
    revoked = await revoke(w, caf_consent.consent_id, request_id)
    assert revoked.revoked_at.seconds and revoked.revoked_by == "agent-martin"
    assert revoked.revocation_channel == "written"
    # The same request again: the same answer; another request on it: the consent as it is.
    assert await revoke(w, caf_consent.consent_id, request_id) == revoked
    assert await revoke(w, caf_consent.consent_id, uuid.uuid4().hex, channel="oral") == revoked

    # The referral it covered is cancelled by the platform, with the reason; the partner sees it.
    await eventually(
        lambda: status_of(w, caf_referral), lambda s: s == ("cancelled", "consent_withdrawn"), timeout=30
    )
    seen = await w.partner("caf-meuse").GetReferral(
        referral_pb2.GetReferralRequest(referral_id=caf_referral), timeout=10
    )
    assert (seen.status, seen.reason) == ("cancelled", "consent_withdrawn")
    # The other partner's referral, under its own consent, goes on.
    assert (await status_of(w, cresus_referral))[0] == "requested"

    # The timeline says both, once each.
    summaries = await eventually(
        lambda: timeline(w, dossier_id),
        lambda found: any("consentement retiré par la personne)" in s for s in found),
        timeout=30,
    )
    withdrawn = [s for s in summaries if s.startswith("Consentement retiré par la personne")]
    assert withdrawn == ["Consentement retiré par la personne : plus aucun partage avec CAF de la Meuse"]
    assert "Orientation vers CAF de la Meuse : annulée (consentement retiré par la personne)" in summaries

    # Nothing new leaves for that partner.
    message = await refused(
        w.agent.CreateReferral, create_request(dossier_id), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "consent" in message

    # The access log and the export keep the history.
    async with w.pool.acquire() as conn:
        logged = await conn.fetchval(
            """SELECT count(*) FROM audit.access_log
                WHERE method LIKE '%/RevokeConsent' AND resource_id = $1""",
            person_id,
        )
    assert logged >= 1
    responsable = w.stack.token("resp-dupont", Role.RESPONSABLE)
    async with w.stack.channel("intake", responsable) as channel:
        export = await intake_pb2_grpc.IntakeServiceStub(channel).ExportPerson(
            intake_pb2.ExportPersonRequest(person_id=person_id), timeout=15
        )
    consents = {c["consent_id"]: c for c in json.loads(export.json)["consents"]}
    assert consents[caf_consent.consent_id]["revoked_by"] == "agent-martin"
    assert consents[caf_consent.consent_id]["revocation_channel"] == "written"


async def test_a_referral_still_covered_by_another_consent_goes_on(world: World) -> None:
    w = world
    dossier_id = await oriented_dossier(w, consent_partner="caf-meuse", scope=("motif", "identite"))
    (first,) = await consents_of(w, dossier_id)
    await w.intake.RecordConsent(
        intake_pb2.RecordConsentRequest(
            person_id=first.person_id,
            partner_id="caf-meuse",
            data_scope=["motif", "identite", "contact"],
            kind="consent",
            channel="electronic",
        ),
        timeout=10,
    )
    referral_id = (await w.agent.CreateReferral(create_request(dossier_id), timeout=20)).referral_id
    await revoke(w, first.consent_id)
    await eventually(
        lambda: timeline(w, dossier_id),
        lambda found: any(s.startswith("Consentement retiré") for s in found),
        timeout=30,
    )
    assert (await status_of(w, referral_id))[0] == "requested"


async def test_bad_withdrawals_are_refused_in_french_and_change_nothing(world: World) -> None:
    w = world
    legal = await oriented_dossier(w, consent_partner="caf-meuse", kind="legal_basis", scope=("motif",))
    (basis,) = await consents_of(w, legal)
    with_consent = await oriented_dossier(w, consent_partner="caf-meuse")
    (consent,) = await consents_of(w, with_consent)
    cases = [
        (basis.consent_id, "oral", grpc.StatusCode.FAILED_PRECONDITION, "NOT_A_CONSENT", ""),
        (consent.consent_id, "pigeon", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CHOICE", "channel"),
        (consent.consent_id, "", grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED", "channel"),
        ("not-a-uuid", "oral", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ID", "consent_id"),
        (str(uuid.uuid4()), "oral", grpc.StatusCode.NOT_FOUND, "CONSENT_NOT_FOUND", "consent_id"),
    ]
    for consent_id, channel, code, reason, field in cases:
        try:
            await revoke(w, consent_id, channel=channel)
        except grpc.aio.AioRpcError as error:
            assert error.code() == code, (consent_id, channel, error.details())
            described = describe(error)
            assert described.reason == reason
            assert described.fr, "a French sentence"
            if field:
                assert field in [v.field for v in described.violations]
        else:
            raise AssertionError(f"{consent_id} {channel}: accepted")
    assert all(
        not c.revoked_at.seconds for c in [*await consents_of(w, legal), *await consents_of(w, with_consent)]
    )
