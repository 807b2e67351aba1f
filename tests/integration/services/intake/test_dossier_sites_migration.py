"""Intake migration 012 on a real PostgreSQL: the dossiers' free-text sites of before become
codes standing for their text (kept without loss in legacy_sites), then those naming a
site of the deployment are mapped onto it at the service's start, the others by hand."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from devstack import scratch
from kernel import db, migrations, reference
from kernel.settings import Settings
from services.intake import legacy_sites

MIGRATIONS = Path(__file__).resolve().parents[4] / "services" / "intake" / "migrations"
REFERENCE = reference.load({})
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
async def database(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """A scratch database migrated up to 011, as a deployment was before sites."""
    name, url = await scratch.create_database(settings.database_url, "sites")
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if int(path.name[:3]) < 12:
            shutil.copy(path, before / path.name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrations.migrate_service(conn, "intake", before)
        finally:
            await conn.close()
        yield url
    finally:
        await scratch.drop_database(settings.database_url, name)


async def open_dossier(conn: asyncpg.Connection, territory: str, site: str) -> uuid.UUID:
    dossier_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO intake.dossiers
               (dossier_id, territory, site, motifs, arrival_channel, urgent, stage, opened_at, updated_at)
           VALUES ($1, $2, $3, '{logement}', 'telephone', false, 'reception', $4, $4)""",
        dossier_id,
        territory,
        site,
        NOW,
    )
    return dossier_id


async def test_free_text_sites_become_codes_then_sites(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        texts = {
            "bar": ("55029", "CIAS du pays barrois - accueil"),  # a site's label, written otherwise
            "bar_again": ("55029", "CIAS du pays barrois - accueil"),
            "code": ("55291", "mairie-ligny"),  # a site's code typed as text
            "antenne": ("55029", "Antenne sociale centre"),  # no site of that name
            "elsewhere": ("55291", "Antenne sociale centre"),  # the same text, another commune
            "other_commune": ("55291", "Maison de la solidarité de Dijon"),  # Dijon's site, not Ligny's
            "none": ("55029", ""),
        }
        ids = {key: await open_dossier(conn, t, s) for key, (t, s) in texts.items()}
        await migrations.migrate_service(conn, "intake", MIGRATIONS)

        legacy = await conn.fetch("SELECT territory, code, label, mapped_to FROM intake.legacy_sites")
        assert sorted((r["territory"], r["label"]) for r in legacy) == sorted(
            {(t, s) for t, s in texts.values() if s}
        )
        assert all(r["code"].startswith("ancien-") and len(r["code"]) == 17 for r in legacy)
        assert all(r["mapped_to"] is None for r in legacy)
        code_of = {(r["territory"], r["label"]): r["code"] for r in legacy}
        sites = {
            r["dossier_id"]: r["site"]
            for r in await conn.fetch("SELECT dossier_id, site FROM intake.dossiers")
        }
        for key, (territory, text) in texts.items():
            assert sites[ids[key]] == (code_of[(territory, text)] if text else ""), key
        # Stable: the same commune and text give the same code on any copy of the database.
        assert code_of[("55029", "Antenne sociale centre")] != code_of[("55291", "Antenne sociale centre")]
        assert (
            await conn.fetchval("SELECT 'ancien-' || left(md5('55029/Antenne sociale centre'), 10)")
            == code_of[("55029", "Antenne sociale centre")]
        )
    finally:
        await conn.close()

    # The service's start: texts naming a site of the same commune are mapped onto it.
    pool = await db.create_pool(database)
    try:
        assert await legacy_sites.map_known(pool, REFERENCE) == 3
        assert await legacy_sites.map_known(pool, REFERENCE) == 0  # again: nothing left to map
    finally:
        await pool.close()
    conn = await asyncpg.connect(database)
    try:
        sites = {
            r["dossier_id"]: r["site"]
            for r in await conn.fetch("SELECT dossier_id, site FROM intake.dossiers")
        }
        assert [sites[ids[k]] for k in ("bar", "bar_again", "code")] == [
            "ccas-bar-le-duc",
            "ccas-bar-le-duc",
            "mairie-ligny",
        ]
        for key in ("antenne", "elsewhere", "other_commune"):
            assert sites[ids[key]] == code_of[texts[key]], key  # left for a person to map
        mapped = {
            r["label"]: r["mapped_to"]
            for r in await conn.fetch(
                "SELECT label, mapped_to FROM intake.legacy_sites WHERE territory = '55029'"
            )
        }
        assert mapped == {"CIAS du pays barrois - accueil": "ccas-bar-le-duc", "Antenne sociale centre": None}

        # An operator maps the rest by hand; the text stays in legacy_sites.
        antenne = code_of[texts["antenne"]]
        moved = await conn.fetchval(
            "SELECT intake.map_legacy_site('55029', $1, 'antenne-cote-sainte-catherine')", antenne
        )
        assert moved == 1
        assert await conn.fetchval(
            "SELECT site FROM intake.dossiers WHERE dossier_id = $1", ids["antenne"]
        ) == ("antenne-cote-sainte-catherine")
        assert (
            await conn.fetchval("SELECT label FROM intake.legacy_sites WHERE code = $1", antenne)
            == "Antenne sociale centre"
        )
        with pytest.raises(asyncpg.RaiseError, match="no legacy site"):
            await conn.fetchval(
                "SELECT intake.map_legacy_site('55029', 'ancien-0000000000', 'ccas-bar-le-duc')"
            )
        with pytest.raises(asyncpg.RaiseError, match="not a site code"):
            await conn.fetchval("SELECT intake.map_legacy_site('55029', $1, 'ancien-x')", antenne)
    finally:
        await conn.close()


def test_a_text_matches_one_site_of_its_own_commune_only() -> None:
    sites = list(REFERENCE.sites.values())
    assert legacy_sites.match("55029", "  cias du PAYS barrois – Accueil ", sites) == "ccas-bar-le-duc"
    assert legacy_sites.match("55029", "CCAS-Bar-le-Duc", sites) == "ccas-bar-le-duc"
    assert legacy_sites.match("55291", "ccas-bar-le-duc", sites) is None
    assert legacy_sites.match("55029", "Accueil", sites) is None
    twins = [
        reference.Site("a", "Permanence", "55029", "", ()),
        reference.Site("b", "Permanence", "55029", "", ()),
    ]
    assert legacy_sites.match("55029", "permanence", twins) is None  # two sites: a person chooses
