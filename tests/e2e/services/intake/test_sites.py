"""A dossier's site is a site of its commune (deployment data), on real servers: every site
ListReferenceData serves is accepted for its commune and read back with its label; an
unknown site, or another commune's, is INVALID_ARGUMENT naming the field and the
commune's sites, nothing written; a dossier of before sites were codes shows the free
text it recorded."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc

from kernel.rich_status import describe
from tests.conftest import AppStack


def opening(territory: str, site: str) -> intake_pb2.OpenDossierRequest:
    return intake_pb2.OpenDossierRequest(
        request_id=uuid.uuid4().hex,
        territory=territory,
        site=site,
        motifs=["logement"],
        arrival_channel="telephone",
    )


async def test_every_site_served_is_accepted_for_its_commune_and_read_with_its_label(
    app_stack: AppStack,
) -> None:
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        data = await intake.ListReferenceData(intake_pb2.ListReferenceDataRequest(), timeout=10)
        by_code = {s.code: s for s in data.sites}
        assert {"ccas-bar-le-duc", "mairie-ligny", "maison-solidarite-dijon"} <= set(by_code)
        bar = by_code["ccas-bar-le-duc"]
        assert (bar.territory, bar.label, bar.address) == (
            "55029",
            "CIAS du Pays Barrois – accueil",
            "12 rue Lapique, 55000 Bar-le-Duc",
        )
        assert [(r.code, r.label) for r in bar.rooms] == [
            ("accueil", "Accueil"),
            ("bureau-1", "Bureau 1"),
            ("bureau-2", "Bureau 2"),
        ]
        communes = {t.code for t in data.territories}
        assert all(s.territory in communes for s in data.sites)
        for site in data.sites:
            opened = await intake.OpenDossier(opening(site.territory, site.code), timeout=30)
            assert (opened.dossier.site, opened.dossier.site_label) == (site.code, site.label)
            read = await intake.GetDossier(
                intake_pb2.GetDossierRequest(dossier_id=opened.dossier.dossier_id), timeout=10
            )
            assert (read.site, read.site_label) == (site.code, site.label)
        without = await intake.OpenDossier(opening("55029", ""), timeout=30)
        assert (without.dossier.site, without.dossier.site_label) == ("", "")


@pytest.mark.parametrize(
    ("site", "reason", "fr"),
    [
        (
            "Antenne sociale centre",
            "UNKNOWN_SITE",
            "Site d'accueil inconnu : « Antenne sociale centre » (sites de Bar-le-Duc :"
            " « ccas-bar-le-duc », « antenne-cote-sainte-catherine » ; laissez vide si aucun ne convient ;"
            " liste des sites : `entraide referentiel`).",
        ),
        (
            "mairie-ligny",
            "SITE_NOT_IN_COMMUNE",
            "Le site « mairie-ligny » n'est pas un site de Bar-le-Duc (sites de Bar-le-Duc :"
            " « ccas-bar-le-duc », « antenne-cote-sainte-catherine » ; laissez vide si aucun ne convient).",
        ),
        ("CCAS-BAR-LE-DUC", "UNKNOWN_SITE", None),  # a code, exactly
    ],
)
async def test_a_site_that_is_not_one_of_the_communes_is_refused_and_nothing_written(
    app_stack: AppStack, pool: asyncpg.Pool, site: str, reason: str, fr: str | None
) -> None:
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM intake.dossiers")
    async with app_stack.channel("intake") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake_pb2_grpc.IntakeServiceStub(channel).OpenDossier(opening("55029", site), timeout=10)
    described = describe(refused.value)
    assert described.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in described.violations] == [("site", reason)]
    if fr is not None:
        assert described.violations[0].fr == fr
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM intake.dossiers") == before


async def test_a_commune_without_sites_says_so(app_stack: AppStack) -> None:
    async with app_stack.channel("intake") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake_pb2_grpc.IntakeServiceStub(channel).OpenDossier(
                opening("55519", "ccas-bar-le-duc"), timeout=10
            )
    described = describe(refused.value)
    assert [(v.field, v.reason) for v in described.violations] == [("site", "SITE_NOT_IN_COMMUNE")]
    assert "Tronville-en-Barrois n'a aucun site déclaré" in described.violations[0].fr


async def test_a_dossier_of_before_shows_the_free_text_it_recorded(
    app_stack: AppStack, pool: asyncpg.Pool
) -> None:
    """As migration 012 leaves it: the dossier carries a legacy code, its text kept."""
    text = f"Permanence du marché {uuid.uuid4().hex[:6]}"
    async with app_stack.channel("intake") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        opened = await intake.OpenDossier(opening("55029", ""), timeout=30)
        dossier_id = opened.dossier.dossier_id
        async with pool.acquire() as conn:
            code = await conn.fetchval("SELECT 'ancien-' || left(md5('55029/' || $1::text), 10)", text)
            await conn.execute(
                "INSERT INTO intake.legacy_sites (territory, code, label) VALUES ('55029', $1, $2)",
                code,
                text,
            )
            await conn.execute(
                "UPDATE intake.dossiers SET site = $1 WHERE dossier_id = $2", code, uuid.UUID(dossier_id)
            )
        read = await intake.GetDossier(intake_pb2.GetDossierRequest(dossier_id=dossier_id), timeout=10)
        assert (read.site, read.site_label) == (code, text)
        listed = await intake.ListDossiers(
            intake_pb2.ListDossiersRequest(territory="55029", page_size=200), timeout=10
        )
        assert [d.site_label for d in listed.dossiers if d.dossier_id == dossier_id] == [text]
