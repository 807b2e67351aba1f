"""Signed single-referral links on real servers: created by the referring agent (or the
platform), read and answered once by the console (role service) as the link's partner,
then refused as used; expired, revoked and altered links refused with their French
reasons; no other referral reachable; no other role admitted; every use, refused ones
too, in the access log; and the notifier's messages carrying the link."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from entraide.v1 import events_pb2, referral_pb2, referral_pb2_grpc

from kernel.auth import Role
from kernel.events import new_event
from kernel.rich_status import describe
from kernel.settings import Settings
from services.referral import links, notifier
from tests.e2e.services.referral import test_referrals
from tests.e2e.services.referral.test_referrals import (
    Referrals,
    World,
    create_request,
    oriented_dossier,
    referral_timeline,
)
from tests.helpers import eventually

READ = "/entraide.v1.ReferralService/ReadReferralByLink"
ANSWER = "/entraide.v1.ReferralService/AnswerReferralByLink"
world = test_referrals.world  # the fixture: a directory imported, an agent, the owner's pool


@pytest.fixture
async def console(world: World) -> AsyncIterator[Referrals]:
    """The referral service as the web console presenting partners' links (role service)."""
    token = world.stack.token("console", Role.SERVICE, ())
    async with world.stack.channel("referral", token) as channel:
        yield referral_pb2_grpc.ReferralServiceStub(channel)


async def new_referral(w: World) -> tuple[str, str]:
    dossier_id = await oriented_dossier(w, scope=("motif", "identite"))
    created = await w.agent.CreateReferral(
        create_request(dossier_id, request_id=uuid.uuid4().hex), timeout=20
    )
    return dossier_id, created.referral_id


async def new_link(w: World, referral_id: str, **fields: object) -> referral_pb2.ReferralLink:
    request = referral_pb2.CreateReferralLinkRequest(referral_id=referral_id, **fields)  # type: ignore[arg-type]
    link: referral_pb2.ReferralLink = await w.agent.CreateReferralLink(request, timeout=10)
    return link


async def refusal(call: object, request: object) -> tuple[grpc.StatusCode, str, str]:
    """(code, reason, French sentence) of a refused call."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(request, timeout=15)  # type: ignore[operator]
    described = describe(raised.value)
    return raised.value.code(), described.reason, described.fr


async def log_rows(w: World, referral_id: str) -> list[tuple[str, str, str, str]]:
    async with w.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT actor, role, action, method FROM audit.access_log
                WHERE resource_type = 'referral' AND resource_id = $1 AND method LIKE '%ByLink'
                ORDER BY id""",
            referral_id,
        )
    return [(r["actor"], r["role"], r["action"], r["method"]) for r in rows]


async def test_a_link_reads_and_answers_its_referral_once_then_is_used(
    world: World, console: Referrals
) -> None:
    w = world
    dossier_id, rid = await new_referral(w)
    request_id = uuid.uuid4().hex
    link = await new_link(w, rid, request_id=request_id)
    assert link.referral_id == rid and link.link_token.startswith(uuid.UUID(link.link_id).hex + ".")
    left = link.expires_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(days=8) - timedelta(minutes=1) < left <= timedelta(days=8)  # the default TTL
    again = await new_link(w, rid, request_id=request_id)
    assert again.link_token == link.link_token  # a retried creation gives the same link

    seen = await console.ReadReferralByLink(
        referral_pb2.ReadReferralByLinkRequest(link_token=link.link_token), timeout=10
    )
    # The partner's view: no dossier id, no referrer; the consented identity.
    assert (seen.referral_id, seen.status, seen.dossier_id, seen.referrer) == (rid, "requested", "", "")
    assert seen.person.first_name.startswith("Claire") and seen.partner_id == "caf-meuse"

    answer = referral_pb2.AnswerReferralByLinkRequest(
        link_token=link.link_token, action="acknowledge", request_id=uuid.uuid4().hex
    )
    done = await console.AnswerReferralByLink(answer, timeout=20)
    assert (done.referral_id, done.status, done.dossier_id) == (rid, "received", "")
    assert await console.AnswerReferralByLink(answer, timeout=20) == done  # a retry: the first answer

    # The link has served: any further read or answer is refused, in French.
    code, reason, fr = await refusal(
        console.ReadReferralByLink, referral_pb2.ReadReferralByLinkRequest(link_token=link.link_token)
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LINK_USED")
    assert fr.startswith("Ce lien a déjà servi")
    code, reason, _ = await refusal(
        console.AnswerReferralByLink,
        referral_pb2.AnswerReferralByLinkRequest(
            link_token=link.link_token, action="accept", request_id=uuid.uuid4().hex
        ),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LINK_USED")

    # Recorded as the partner's own acknowledgement, acted by the link; on the dossier's timeline.
    mine = await w.partner("caf-meuse").GetReferral(
        referral_pb2.GetReferralRequest(referral_id=rid), timeout=10
    )
    assert mine.status == "received"
    agent_view = await w.agent.GetReferral(referral_pb2.GetReferralRequest(referral_id=rid), timeout=10)
    assert agent_view.history[-1].actor == f"link:{link.link_id}"
    summaries = await eventually(lambda: referral_timeline(w, dossier_id), lambda s: len(s) == 2, timeout=30)
    assert summaries[-1] == "Orientation vers CAF de la Meuse : reçue par le partenaire"

    assert await log_rows(w, rid) == [
        ("console", "service", "read", READ),
        ("console", "service", "write", ANSWER),
        ("console", "service", "write", ANSWER),
        ("console", "service", "denied", READ),
        ("console", "service", "denied", ANSWER),
    ]

    # A new link for the next step; a wrong answer for the status is refused and frees it.
    second = await new_link(w, rid)
    code, reason, _ = await refusal(
        console.AnswerReferralByLink,
        referral_pb2.AnswerReferralByLinkRequest(link_token=second.link_token, action="complete"),
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_REQUIRED")  # no outcome
    code, reason, _ = await refusal(
        console.AnswerReferralByLink,
        referral_pb2.AnswerReferralByLinkRequest(
            link_token=second.link_token, action="complete", outcome="need_met"
        ),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "WRONG_REFERRAL_STATUS")
    accepted = await console.AnswerReferralByLink(
        referral_pb2.AnswerReferralByLinkRequest(link_token=second.link_token, action="accept"), timeout=20
    )
    assert accepted.status == "accepted"


async def test_expired_revoked_and_altered_links_are_refused(world: World, console: Referrals) -> None:
    w = world
    _, rid = await new_referral(w)
    _, other = await new_referral(w)

    async def read(token: str) -> tuple[grpc.StatusCode, str, str]:
        return await refusal(
            console.ReadReferralByLink, referral_pb2.ReadReferralByLinkRequest(link_token=token)
        )

    expiring = await new_link(w, rid, ttl_s=60)
    assert expiring.expires_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC) <= timedelta(seconds=60)
    async with w.pool.acquire() as conn:  # as the owner: the link's time is up
        await conn.execute(
            """UPDATE referral.referral_links
                  SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
                WHERE link_id = $1""",
            uuid.UUID(expiring.link_id),
        )
    code, reason, fr = await read(expiring.link_token)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LINK_EXPIRED")
    assert fr.startswith("Ce lien a expiré")

    revoked = await new_link(w, rid)
    gone = await w.agent.RevokeReferralLink(
        referral_pb2.RevokeReferralLinkRequest(link_token=revoked.link_token, request_id=uuid.uuid4().hex),
        timeout=10,
    )
    assert (gone.link_id, gone.referral_id) == (revoked.link_id, rid)
    code, reason, fr = await read(revoked.link_token)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LINK_REVOKED")
    assert "désactivé" in fr
    by_id = await new_link(w, rid)
    await w.agent.RevokeReferralLink(
        referral_pb2.RevokeReferralLinkRequest(link_id=by_id.link_id), timeout=10
    )
    assert (await read(by_id.link_token))[1] == "LINK_REVOKED"

    # Altered tokens: another referral's id in place of this one's, a changed signature, garbage.
    good = await new_link(w, rid)
    link_hex, referral_hex, expires, mac = good.link_token.split(".")
    swapped = f"{link_hex}.{uuid.UUID(other).hex}.{expires}.{mac}"
    flipped = f"{link_hex}.{referral_hex}.{expires}.{('A' if mac[0] != 'A' else 'B') + mac[1:]}"
    longer = f"{link_hex}.{referral_hex}.{int(expires) + 86400}.{mac}"
    for token in (swapped, flipped, longer, "not-a-link", "", good.link_token + "x"):
        code, reason, fr = await read(token)
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "LINK_INVALID"), token
        assert fr.startswith("Ce lien n'est pas valable")
    # The other referral is not reached by the altered link, nor answered.
    code, reason, _ = await refusal(
        console.AnswerReferralByLink,
        referral_pb2.AnswerReferralByLinkRequest(link_token=swapped, action="acknowledge"),
    )
    assert reason == "LINK_INVALID"
    untouched = await w.agent.GetReferral(referral_pb2.GetReferralRequest(referral_id=other), timeout=10)
    assert untouched.status == "requested"
    # The good link still works (the refusals did not use it).
    read_ok = await console.ReadReferralByLink(
        referral_pb2.ReadReferralByLinkRequest(link_token=good.link_token), timeout=10
    )
    assert read_ok.referral_id == rid

    actions = [a for _, _, a, _ in await log_rows(w, rid)]
    assert actions.count("denied") >= 3 and actions[-1] == "read"  # expired, revoked ×2, then the read


async def test_only_the_console_reads_by_link_and_only_agents_of_the_commune_make_links(
    world: World, console: Referrals
) -> None:
    w = world
    _, rid = await new_referral(w)
    link = await new_link(w, rid)
    read = referral_pb2.ReadReferralByLinkRequest(link_token=link.link_token)
    answer = referral_pb2.AnswerReferralByLinkRequest(link_token=link.link_token, action="acknowledge")
    caf = w.partner("caf-meuse")
    for call, request in [
        (caf.ReadReferralByLink, read),
        (w.agent.ReadReferralByLink, read),
        (caf.AnswerReferralByLink, answer),
    ]:
        code, reason, fr = await refusal(call, request)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
        assert "réservée aux services internes" in fr
    code, _, _ = await refusal(
        caf.CreateReferralLink, referral_pb2.CreateReferralLinkRequest(referral_id=rid)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # An agent of another commune does not see the referral; the link stays good.
    ligny = w.stack.token("ts-ligny", Role.TRAVAILLEUR_SOCIAL, ("55291",))
    async with w.stack.channel("referral", ligny) as channel:
        elsewhere = referral_pb2_grpc.ReferralServiceStub(channel)
        code, _, _ = await refusal(
            elsewhere.CreateReferralLink, referral_pb2.CreateReferralLinkRequest(referral_id=rid)
        )
        assert code == grpc.StatusCode.NOT_FOUND
        code, _, _ = await refusal(
            elsewhere.RevokeReferralLink, referral_pb2.RevokeReferralLinkRequest(link_id=link.link_id)
        )
        assert code == grpc.StatusCode.NOT_FOUND
    code, reason, _ = await refusal(
        w.agent.CreateReferralLink, referral_pb2.CreateReferralLinkRequest(referral_id=rid, ttl_s=59)
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "OUT_OF_RANGE")
    # The platform (role service: the notifier's rights) makes links too, without territories.
    made = await console.CreateReferralLink(
        referral_pb2.CreateReferralLinkRequest(referral_id=rid), timeout=10
    )
    assert made.referral_id == rid
    assert (await console.ReadReferralByLink(read, timeout=10)).referral_id == rid


async def test_the_notifier_puts_a_link_in_each_message_awaiting_the_partner(world: World) -> None:
    w = world
    _, rid = await new_referral(w)
    env = {**w.stack.env, "ENTRAIDE_CONSOLE_URL": "https://console.example/"}
    config = notifier.NotifierConfig.from_settings(Settings.from_env(env), "referral")
    assert config.answer_links

    def event_for(status: str) -> tuple[object, events_pb2.ReferralStatusChanged]:
        data = events_pb2.ReferralStatusChanged(
            referral_id=rid,
            partner_id="caf-meuse",
            territory="55029",
            motif="logement",
            status=status,
            sequence=9,
        )
        data.at.FromDatetime(datetime.now(UTC))
        return new_event("entraide.referral.status_changed", "test", rid, data), data

    handle = notifier.enqueue_handler(config)
    async with w.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:  # in a transaction rolled back: nothing reaches the live delivery loop
            payloads = {}
            for status in ("requested", "completed"):
                event, _ = event_for(status)
                await handle(conn, event)  # type: ignore[arg-type]
                row = await conn.fetchrow(
                    "SELECT payload::text AS payload FROM referral.partner_deliveries WHERE event_id = $1",
                    event.id,  # type: ignore[attr-defined]
                )
                payloads[status] = json.loads(row["payload"])["data"]
            links_made = await conn.fetchval(
                "SELECT count(*) FROM referral.referral_links WHERE referral_id = $1 AND created_by = $2",
                uuid.UUID(rid),
                notifier.NOTIFIER_ACTOR,
            )
        finally:
            await transaction.rollback()
    url = payloads["requested"]["answer_url"]
    assert url.startswith("https://console.example/lien/")
    token = url.rsplit("/", 1)[1]
    parsed = links.verify(links.LinkConfig.from_env(w.stack.env).key, token)  # the service's own key
    assert parsed is not None and str(parsed.referral_id) == rid
    assert payloads["completed"]["answer_url"] is None  # nothing left to answer: no link
    assert links_made == 1
