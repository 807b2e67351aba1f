"""The parameters of a Dijon-like year of permanences: the Maison de la solidarité de
Dijon (reference data site `maison-solidarite-dijon`, commune 21231, rooms `bureau-1`
and `bureau-2`), the 18 partner organisations holding permanences there (reference
data partner_categories codes), the élu's permanence and the CCAS agents who receive
by appointment outside the rooms, the half-days and the closures.

Organisations' names only (never a person's): the names are those such bodies carry
in Côte-d'Or; the ids are this generator's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

from domain.planning import HostKind, Recurrence

SITE = "maison-solidarite-dijon"
TERRITORY = "21231"
ROOMS = ("bureau-1", "bureau-2")
# The two half-days of a permanence (Paris time).
HALF_DAYS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 0)))
# Fortnightly permanences alternate on the parity of the weeks since this Monday: the
# same rota whatever the year.
ROTA_EPOCH = date(2001, 1, 1)


@dataclass(frozen=True)
class Host:
    """Who receives: a partner organisation, the élu or a CCAS agent."""

    host_id: str
    kind: HostKind
    name: str  # the organisation's name (the bilan's label); empty for an élu or agent
    category: str  # reference data partner_categories code; empty for an élu or agent
    recurrence: Recurrence | None  # None: an agent, by appointment outside the rooms
    slot_minutes: int
    demand: float  # how sought after its slots are (relative)


def _partner(
    host_id: str, name: str, category: str, recurrence: Recurrence, slot: int, demand: float
) -> Host:
    return Host(host_id, HostKind.PARTENAIRE, name, category, recurrence, slot, demand)


W, F = Recurrence.WEEKLY, Recurrence.FORTNIGHTLY
PARTNERS: Sequence[Host] = (
    _partner("caf-21", "Caisse d'allocations familiales de la Côte-d'Or", "acces_aux_droits", W, 20, 1.6),
    _partner("cpam-21", "Caisse primaire d'assurance maladie de la Côte-d'Or", "sante", W, 20, 1.4),
    _partner("carsat-bfc", "Carsat Bourgogne-Franche-Comté – service social", "acces_aux_droits", F, 30, 0.9),
    _partner(
        "france-travail-dijon", "France Travail – agence de Dijon Mansart", "emploi_insertion", W, 20, 1.2
    ),
    _partner(
        "mission-locale-dijon", "Mission locale de l'arrondissement de Dijon", "emploi_insertion", W, 20, 1.0
    ),
    _partner("adil-21", "ADIL de la Côte-d'Or", "logement", W, 20, 1.1),
    _partner("habitat-humanisme-21", "Habitat et Humanisme Côte-d'Or", "logement", F, 45, 0.7),
    _partner("cresus-bfc", "CRÉSUS Bourgogne-Franche-Comté", "budget_endettement", W, 45, 0.9),
    _partner("udaf-21", "UDAF de la Côte-d'Or – Point conseil budget", "budget_endettement", W, 45, 0.8),
    _partner("cidff-21", "CIDFF de la Côte-d'Or", "juridique", W, 20, 1.0),
    _partner("cdad-21", "CDAD de la Côte-d'Or – consultations d'avocats", "juridique", F, 20, 1.3),
    _partner("conciliateur-dijon", "Conciliateurs de justice de Côte-d'Or", "juridique", F, 30, 0.6),
    _partner("france-victimes-21", "France Victimes 21 – aide aux victimes", "aide_aux_victimes", W, 45, 0.7),
    _partner(
        "defenseur-droits-21",
        "Défenseur des droits – délégation de Côte-d'Or",
        "acces_aux_droits",
        W,
        20,
        0.8,
    ),
    _partner("ecole-parents-21", "École des parents et des éducateurs de Côte-d'Or", "famille", W, 45, 0.6),
    _partner("addictions-france-21", "Addictions France – CSAPA de Dijon", "sante", W, 45, 0.6),
    _partner(
        "secours-populaire-21", "Secours populaire français – Côte-d'Or", "aide_alimentaire", W, 20, 1.2
    ),
    _partner("restos-du-coeur-21", "Les Restos du cœur de la Côte-d'Or", "aide_alimentaire", W, 20, 1.1),
)
ELU = Host("elu-solidarites", HostKind.ELU, "", "", F, 30, 1.0)
AGENTS: Sequence[Host] = tuple(
    Host(f"agent-ccas-{n}", HostKind.AGENT, "", "", None, 45, 0.45) for n in range(1, 4)
)
# The agents' half-days of reception (weekday, half): every half-day but Wednesday's
# afternoon and Friday's.
AGENT_HALF_DAYS = tuple((d, h) for d in range(5) for h in range(2) if (d, h) not in ((2, 1), (4, 1)))
# Statuses of a year's appointments: shares of the booked ones.
CANCELLED_SHARE = 0.07
UNRECORDED_SHARE = 0.005  # nothing recorded (the agent forgot): an appointment only
# Of the recorded ones: 90 % visits, 10 % no-shows (7 % plain, 3 % excused).
VISIT_SHARE, NO_SHOW_SHARE, EXCUSED_SHARE = 0.90, 0.07, 0.03
WALK_IN_SHARE = 0.04  # of the visits
MOVED_SHARE, MOVED_TWICE_SHARE = 0.06, 0.01
CORRECTED_NO_SHOW_SHARE = 0.015  # of the visits: first recorded as a no-show, then seen
SESSIONS_OFF_PER_YEAR = (1, 4)  # a partner's sessions not held (away, ill), per year


def easter(year: int) -> date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def closed_days(year: int) -> set[date]:
    """Public holidays, the summer closure (1-21 August) and the Christmas week."""
    fixed = {
        date(year, m, d) for m, d in ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
    }
    sunday = easter(year)
    movable = {sunday + timedelta(days=n) for n in (1, 39, 50)}  # Easter and Whit Mondays, Ascension
    summer = {date(year, 8, d) for d in range(1, 22)}
    christmas = {date(year, 12, d) for d in range(24, 32)}
    return fixed | movable | summer | christmas
