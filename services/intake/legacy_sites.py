"""The sites dossiers recorded as free text before sites were deployment data (intake
migration 012 keeps each text in `legacy_sites` under a code "ancien-…"): at start, the
service maps those whose text is a site's label or code of the same commune (case,
accents, punctuation and spaces ignored) onto that site; the others stay until an
operator maps them (`map_legacy_site`, see the migration)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kernel.db import Pool, system_scope
from kernel.logs import get_logger
from kernel.reference import ReferenceData, Site
from services.intake.persons import fold
from services.intake.schema import SCHEMA

log = get_logger("legacy_sites")
LEGACY_PREFIX = "ancien-"


def match(territory: str, text: str, sites: Iterable[Site]) -> str | None:
    """The code of the one site of `territory` whose label or code is `text` (folded);
    None when none is, or when several are (a person then chooses)."""
    wanted = fold(text)
    found = {s.code for s in sites if s.territory == territory and wanted in (fold(s.label), fold(s.code))}
    return found.pop() if len(found) == 1 else None


async def map_known(pool: Pool, reference: ReferenceData) -> int:
    """Maps every unmapped legacy site that `match`es a site of the deployment; returns
    the number of dossiers moved. Safe to run again (mapped rows are skipped) and from
    several processes at once (each mapping is one transaction, row-locked)."""
    territories = sorted({s.territory for s in reference.sites.values()})
    if not territories:
        return 0
    moved = 0
    async with system_scope(pool, territories) as conn:
        legacy = await conn.fetch(
            f"SELECT territory, code, label FROM {SCHEMA}.legacy_sites WHERE mapped_to IS NULL"
        )
        for row in legacy:
            site = match(row["territory"], row["label"], reference.sites.values())
            if site is None:
                continue
            async with conn.transaction():
                still = await conn.fetchval(
                    f"""SELECT 1 FROM {SCHEMA}.legacy_sites
                         WHERE territory = $1 AND code = $2 AND mapped_to IS NULL FOR UPDATE""",
                    row["territory"],
                    row["code"],
                )
                if still is None:
                    continue  # another process mapped it meanwhile
                moved += await conn.fetchval(
                    f"SELECT {SCHEMA}.map_legacy_site($1, $2, $3)", row["territory"], row["code"], site
                )
    if moved:
        # Counts only: the texts are whatever agents typed.
        log.info("legacy sites mapped to the deployment's sites", extra={"count": moved})
    return moved


def site_label(code: str, legacy_label: str | None, sites: Mapping[str, Site]) -> str:
    """A dossier's site as a person reads it: the site's label, the free text a legacy
    code stands for, else the code itself."""
    if not code:
        return ""
    site = sites.get(code)
    if site is not None:
        return site.label
    return legacy_label or code
