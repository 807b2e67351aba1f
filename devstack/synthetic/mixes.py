"""The parameters of a synthetic year: the activity mixes, the seeds' figures they come
from, the calendar, the sites and agents, and the demo directory's partners; with
`quota`, which turns a mix into exact counts.

The seeds' figures and the deployment's motif codes
---------------------------------------------------
- Soissons (Bureau des interventions): 153 dossiers, 120 about housing →
  `SOISSONS_153` (`logement` 120; the 33 others spread over the other problems the
  article names: rent and debts, jobs, violence, school dropout, neighbours).
- Dijon (Maison de la solidarité): 39 % access to rights, 12 % financial, 11 %
  administrative help, 7 % employment, 6 % health → `DIJON_MIX`. The reference data
  has no separate code for administrative help (`acces_aux_droits` is labelled
  "Accès aux droits / démarches administratives"): merging it there would report 50 %
  and lose the distinction the seed makes, so **administrative help is mapped onto
  `numerique`** (help with the now online procedures, the closest separate code);
  access to rights → `acces_aux_droits`, financial → `difficultes_financieres`,
  employment → `emploi`, health → `sante`. The remaining 25 % are spread over
  `logement`, `famille`, `alimentation`, `violences_conjugales`, `justice`,
  `mobilite`, `scolarite`. `dijon_counts(total)` turns it into exact counts (use a
  multiple of 100 for exact percentages).
- The default motif mix of `generate_year` is the average of the two seeds' mixes.
- Outcomes: 454 of 750 dossiers "réglé" (Soissons) → `regle` = 454/750 of dossiers.
- A completed referral's outcome is one of the system's codes
  (`domain.vocabulary.ReferralOutcome`): `REFERRAL_OUTCOMES`.

Mixes are read in code order (`canonical`): what is drawn from them never depends on
the order their codes were inserted in.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.vocabulary import ReferralOutcome

PARIS = ZoneInfo("Europe/Paris")
PARTNERS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "demo_partners.json"

# Soissons: "depuis le 1er janvier 2021, 153 dossiers ont été traités, 120 concernaient
# des questions de logement"; the 33 others over the problems the article lists.
SOISSONS_153: Mapping[str, int] = {
    "logement": 120,
    "difficultes_financieres": 10,
    "emploi": 6,
    "violences_conjugales": 5,
    "famille": 4,
    "voisinage": 4,
    "scolarite": 2,
    "acces_aux_droits": 2,
}
# Dijon: 39 % access to rights, 12 % financial, 11 % administrative help (→ numerique,
# see the module docstring), 7 % employment, 6 % health; 25 % other motifs.
DIJON_MIX: Mapping[str, float] = {
    "acces_aux_droits": 0.39,
    "difficultes_financieres": 0.12,
    "numerique": 0.11,
    "emploi": 0.07,
    "sante": 0.06,
    "logement": 0.08,
    "famille": 0.05,
    "alimentation": 0.04,
    "violences_conjugales": 0.03,
    "justice": 0.02,
    "mobilite": 0.02,
    "scolarite": 0.01,
}
SOISSONS_MIX: Mapping[str, float] = {m: n / 153 for m, n in SOISSONS_153.items()}
# In code order: never iterate a set here, its order changes with PYTHONHASHSEED.
DEFAULT_MOTIF_MIX: Mapping[str, float] = {
    m: (SOISSONS_MIX.get(m, 0.0) + DIJON_MIX.get(m, 0.0)) / 2 for m in sorted({*SOISSONS_MIX, *DIJON_MIX})
}
# The CIAS of Bar-le-Duc's communes (INSEE codes), by weight of population.
DEFAULT_TERRITORIES: Mapping[str, float] = {
    "55029": 0.55,  # Bar-le-Duc
    "55291": 0.15,  # Ligny-en-Barrois
    "55519": 0.09,  # Tronville-en-Barrois
    "55186": 0.08,  # Fains-Véel
    "55041": 0.07,  # Behonne
    "55302": 0.06,  # Longeville-en-Barrois
}
DEFAULT_CHANNEL_MIX: Mapping[str, float] = {
    "visite_spontanee": 0.40,
    "telephone": 0.22,
    "rendez_vous": 0.12,
    "permanence_maire": 0.07,
    "signalement_tiers": 0.05,
    "orientation_partenaire": 0.05,
    "signalement_elu": 0.04,
    "courriel": 0.03,
    "aller_vers": 0.02,
}
# The deployment's closure outcomes (reference data codes, not enums: each CIAS has its own).
SOLVED = "regle"
LISTENED = "ecoute_conseil"
REFERRED_NO_ANSWER = "oriente_sans_retour"
GAVE_UP = "abandon"
NO_SOLUTION = "sans_solution"
MOVED_OR_DIED = "demenagement_deces"
# Soissons: 454 dossiers "réglés" for about 750 people a year.
DEFAULT_OUTCOME_MIX: Mapping[str, float] = {
    SOLVED: 454 / 750,
    LISTENED: 0.20,
    REFERRED_NO_ANSWER: 0.07,
    GAVE_UP: 0.06,
    NO_SOLUTION: 0.045,
    MOVED_OR_DIED: 1 - 454 / 750 - 0.20 - 0.07 - 0.06 - 0.045,
}
# How a completed referral ended for the person: the system's codes. Two of them, the
# two the generator has always drawn between (a solution found → `need_met`, a partial
# one: support started → `support_started`): one draw among two keeps the generator's
# random stream, so the same arguments still give the same events, ids and counts.
REFERRAL_OUTCOMES: tuple[ReferralOutcome, ...] = (ReferralOutcome.NEED_MET, ReferralOutcome.SUPPORT_STARTED)
# Relative intake per month: quieter in summer, half in August, the rentrée peak.
MONTH_WEIGHTS = (1.10, 1.00, 1.05, 1.00, 0.95, 0.95, 0.80, 0.45, 1.15, 1.10, 1.05, 0.85)
# Share of urgent dossiers by motif (violence; loss of housing within days).
URGENT_SHARE: Mapping[str, float] = {"violences_conjugales": 0.8, "famille": 0.15, "logement": 0.06}
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
OFFICE_HOURS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 0)))
SITES: Mapping[str, Sequence[str]] = {
    "55029": ("Accueil du CIAS", "Antenne sociale centre", "Antenne sociale Côte Sainte-Catherine"),
}
DEFAULT_SITES = ("Permanence en mairie",)
AGENTS = tuple(f"agent-{n:02d}" for n in range(1, 13))


@dataclass(frozen=True)
class Partner:
    partner_id: str
    motifs: frozenset[str]
    territories: frozenset[str]
    name: str = ""


def load_partners(path: Path = PARTNERS_FILE) -> list[Partner]:
    """The demo directory's partners: the plain `partners` list or the HSDS-like
    `organizations` (with services carrying motifs and communes)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    partners = []
    for p in raw.get("partners", []):
        partners.append(
            Partner(p["partner_id"], frozenset(p["motifs"]), frozenset(p["territories"]), p.get("name", ""))
        )
    for org in raw.get("organizations", []):
        services = org.get("services", [])
        motifs = {m for s in services for m in s.get("motifs", [])}
        communes = {c for s in services for c in s.get("communes", [])}
        partners.append(Partner(org["id"], frozenset(motifs), frozenset(communes), org.get("name", "")))
    return sorted(partners, key=lambda p: p.partner_id)


def canonical(mix: Mapping[str, float]) -> dict[str, float]:
    """`mix` in code order: what is drawn from a mix never depends on the order its
    codes were inserted in (e.g. from a set, whose order changes with PYTHONHASHSEED)."""
    return {k: float(mix[k]) for k in sorted(mix)}


def quota(total: int, mix: Mapping[str, float]) -> list[str]:
    """`total` codes in the proportions of `mix` (largest remainder; ties by code)."""
    weights = {k: v for k, v in canonical(mix).items() if v > 0}
    if total < 0 or not weights:
        raise ValueError("a mix needs a positive weight and the total must not be negative")
    scale = total / math.fsum(weights.values())  # exact sum: the same whatever the order
    exact = {k: v * scale for k, v in weights.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return [k for k in sorted(counts) for _ in range(counts[k])]


def dijon_counts(total: int = 1000) -> dict[str, int]:
    """Exact per-motif counts of the Dijon mix (percentages exact for a multiple of 100)."""
    return dict(Counter(quota(total, DIJON_MIX)))
