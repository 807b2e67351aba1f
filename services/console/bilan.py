"""The activity report (bilan) for élus and responsables: a period and communes, the
reporting service's figures with the previous period's beside them, a bar chart and its
data table per breakdown, and the service's CSV and HTML exports as downloads.

Every figure, every definition (who was received, what "solved" means, the previous
period), who may read which communes and every label are the reporting service's
(GetBilan, ExportBilan): this page turns the form into a period, sends it, and shows the
answer. Numbers are written as the service's own HTML document writes them. No
dossier is ever linked from here: the bilan holds aggregates only.

The permanences' section (Bilan.activity) shows the appointments and visits of the
period with the previous period's, then the same by partner category (with its chart),
by partner and by site; only its heading and one sentence when the period and the one
before it had no appointment. The collective actions' and signals' sections:
bilan_outreach.py; the CCAS's aid: bilan_aides.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import grpc
from entraide.v1 import reporting_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from markupsafe import Markup
from starlette.responses import Response

from domain.money import format_euros
from kernel import rich_status
from kernel.timestamps import to_timestamp
from services.console.bilan_aides import aides
from services.console.bilan_outreach import outreach
from services.console.charts import Bar, labelled_bar_chart
from services.console.web import FORM_CODES, FormErrors, Page, form_errors, page_route, query
from services.reporting.render_html import _days, _number, _percent, partner_label

PARIS = ZoneInfo("Europe/Paris")
# A refused field of GetBilanRequest → the field of the form.
FORM_FIELD_OF = {"from": "du", "to": "au", "territories": "communes"}
FORM_FIELDS = frozenset(FORM_FIELD_OF.values())
MAX_COMMUNES = 100
# A date outside these years is a typing error (and some are no protobuf timestamp).
MIN_YEAR, MAX_YEAR = 1900, 9998
_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class Filters:
    """The form as sent (dates as typed, communes as checked), kept for the answer."""

    du: str
    au: str
    communes: tuple[str, ...]

    def query(self, **extra: str) -> str:
        values: list[tuple[str, str]] = [("du", self.du), ("au", self.au)]
        values += [("communes", code) for code in self.communes]
        values += list(extra.items())
        return urlencode(values)


@dataclass(frozen=True)
class QuickLink:
    text: str
    href: str
    current: bool


@dataclass(frozen=True)
class Breakdown:
    """One breakdown of the bilan: its heading, chart and data table."""

    key: str
    title: str
    column: str
    shares: Sequence[reporting_pb2.Share]
    chart: Markup
    note: str = ""


@dataclass(frozen=True)
class ActivityTable:
    """One breakdown of the permanences' activity: its heading, its table and, for the
    categories, the chart of the visits drawn just before the table."""

    key: str
    title: str
    column: str
    shares: Sequence[reporting_pb2.ActivityShare]
    caption: str
    empty: str
    chart: Markup


def today() -> date:
    return datetime.now(PARIS).date()


def default_period(day: date) -> tuple[date, date]:
    """The current calendar year so far."""
    return day.replace(month=1, day=1), day


def quick_periods(day: date) -> list[tuple[str, date, date]]:
    first_of_month = day.replace(day=1)
    last_of_previous = first_of_month - timedelta(days=1)
    return [
        ("Année précédente", date(day.year - 1, 1, 1), date(day.year - 1, 12, 31)),
        ("Année en cours", *default_period(day)),
        ("Mois précédent", last_of_previous.replace(day=1), last_of_previous),
    ]


def filters_of(page: Page) -> Filters:
    """The filters of the query; a period not given at all is the year so far (a date
    sent empty stays empty: the service says that a bilan needs both dates)."""
    start, end = default_period(today())
    communes = [code.strip()[:20] for code in page.request.query_params.getlist("communes") if code.strip()]
    return Filters(
        du=query(page.request, "du", start.isoformat()),
        au=query(page.request, "au", end.isoformat()),
        communes=tuple(dict.fromkeys(communes))[:MAX_COMMUNES],
    )


def parse_day(text: str) -> date | None:
    """A date field's value: yyyy-mm-dd (type=date), or dd/mm/yyyy as typed by hand;
    None when it is no date (or one no timestamp can hold, such as the year 1)."""
    day: date | None = None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            day = datetime.strptime(text, "%d/%m/%Y").date()
        except ValueError:
            return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


def _stamp(day: date) -> Timestamp:
    """Midnight starting `day` in Paris: the day of the agents and of the bilan's readers."""
    return to_timestamp(datetime.combine(day, time(), PARIS))


def bilan_request(filters: Filters) -> tuple[reporting_pb2.GetBilanRequest, FormErrors]:
    """The request of the form's period: from the first day's midnight to the midnight
    after the last day (the form's days are inclusive, the service's period [from, to)).
    Only a date that cannot be read is refused here: every other check is the service's."""
    request = reporting_pb2.GetBilanRequest(territories=list(filters.communes))
    errors: dict[str, str] = {}
    if filters.du:
        start = parse_day(filters.du)
        if start is None:
            errors["du"] = "Date de début invalide : saisissez une date au format jj/mm/aaaa."
        else:
            getattr(request, "from").CopyFrom(_stamp(start))
    if filters.au:
        end = parse_day(filters.au)
        if end is None:
            errors["au"] = "Date de fin invalide : saisissez une date au format jj/mm/aaaa."
        else:
            request.to.CopyFrom(_stamp(end + timedelta(days=1)))
    if errors:
        return request, FormErrors("La période n'est pas valide", errors)
    return request, FormErrors()


def refusal(error: grpc.RpcError) -> FormErrors | None:
    """The service's refusal of the form, each sentence next to its field; None when it
    is no refusal of the form (page_route then shows the French page)."""
    described = rich_status.describe(error)
    if described.code is grpc.StatusCode.PERMISSION_DENIED and described.reason == "TERRITORY_NOT_ASSIGNED":
        # A commune the agent does not work in (only a hand-typed address asks it).
        return FormErrors(described.fr, {"communes": described.fr})
    if described.code not in FORM_CODES:
        return None
    errors = form_errors(error)
    fields = {FORM_FIELD_OF.get(name, name): text for name, text in errors.fields.items()}
    # A field the form does not have (the export's format): its sentence is the summary's.
    return FormErrors(errors.message, {k: v for k, v in fields.items() if k in FORM_FIELDS})


def _status_of(error: grpc.RpcError) -> int:
    return 403 if rich_status.describe(error).code is grpc.StatusCode.PERMISSION_DENIED else 400


def _last_day(bilan: reporting_pb2.Bilan) -> datetime:
    return bilan.to.ToDatetime(tzinfo=UTC) - timedelta(seconds=1)


def _day_fr(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%d/%m/%Y")


def _share_bars(shares: Sequence[reporting_pb2.Share]) -> list[Bar]:
    return [(s.label, float(s.count), f"{_number(s.count)} ({_percent(s.percent)})") for s in shares]


def breakdowns(bilan: reporting_pb2.Bilan) -> list[Breakdown]:
    sections: list[tuple[str, str, str, Sequence[reporting_pb2.Share], str]] = [
        (
            "motifs",
            "Motifs de la demande",
            "Motif",
            bilan.by_motif,
            "Un dossier peut porter plusieurs motifs : les parts peuvent dépasser 100 % au total.",
        ),
        ("communes", "Répartition par commune", "Commune", bilan.by_commune, ""),
        ("canaux", "Canal d'arrivée", "Canal", bilan.by_channel, ""),
        ("issues", "Issue des dossiers clôturés", "Issue", bilan.by_outcome, ""),
    ]
    return [
        Breakdown(
            key=f"graphique-{key}",
            title=title,
            column=column,
            shares=shares,
            chart=labelled_bar_chart(
                f"graphique-{key}", f"{title} : nombre de dossiers", _share_bars(shares)
            ),
            note=note,
        )
        for key, title, column, shares, note in sections
    ]


def _duration_chart(durations: Sequence[reporting_pb2.Duration]) -> Markup:
    return labelled_bar_chart(
        "graphique-durees",
        "Durée médiane passée dans chaque étape, en jours",
        [(d.label, d.median_s, _days(d.median_s)) for d in durations],
    )


def _partner_chart(partners: Sequence[reporting_pb2.PartnerFigures]) -> Markup:
    return labelled_bar_chart(
        "graphique-partenaires",
        "Délai de réponse médian de chaque partenaire, en jours",
        [(partner_label(p), p.median_response_s, _days(p.median_response_s)) for p in partners],
    )


def visits_share(share: reporting_pb2.ActivityShare, visits: int) -> str:
    """A share's visits as a part of all visits, in percent (as the HTML document draws it)."""
    return _percent(100.0 * share.visits / visits if visits else 0.0)


def growth(value: float, previous: int) -> str:
    """The service's growth of the visits, signed (+4,5 %, −3,0 %); empty when there
    was no visit in the previous period to compare with (the page writes a dash)."""
    if previous == 0:
        return ""
    text = _percent(value)
    return text if text.startswith(("−", "0,0")) else f"+{text}"


def activity_tables(activity: reporting_pb2.ActivityFigures) -> list[ActivityTable]:
    """The breakdowns of the permanences' activity; the categories' visits as a chart."""
    title = "Visites par catégorie de partenaire"
    chart = labelled_bar_chart(
        "graphique-activite-categories",
        f"{title} : nombre de visites",
        [
            (
                s.label,
                float(s.visits),
                f"{_number(s.visits)} ({visits_share(s, activity.visits)})",
            )
            for s in activity.by_category
        ],
    )
    return [
        ActivityTable(
            "graphique-activite-categories",
            title,
            "Catégorie",
            activity.by_category,
            f"Données du graphique « {title} »",
            "Aucun rendez-vous sur la période.",
            chart,
        ),
        ActivityTable(
            "activite-partenaires",
            "Par partenaire",
            "Partenaire",
            activity.by_partner,
            "Rendez-vous et visites des permanences par partenaire",
            "Aucun rendez-vous avec un partenaire sur la période.",
            Markup(""),
        ),
        ActivityTable(
            "activite-sites",
            "Par site d'accueil",
            "Site",
            activity.by_site,
            "Rendez-vous et visites des permanences par site d'accueil",
            "Aucun rendez-vous sur la période.",
            Markup(""),
        ),
    ]


def _quick_links(filters: Filters) -> list[QuickLink]:
    links = []
    for text, start, end in quick_periods(today()):
        target = Filters(start.isoformat(), end.isoformat(), filters.communes)
        links.append(
            QuickLink(text, f"/bilan?{target.query()}", (filters.du, filters.au) == (target.du, target.au))
        )
    return links


def _formatters() -> dict[str, Callable[..., str]]:
    # French numbers as the reporting service's own document writes them.
    return {
        "number": _number,
        "euros": format_euros,
        "percent": _percent,
        "days": _days,
        "partner_label": partner_label,
        "growth": growth,
        "visits_share": visits_share,
    }


def _figures(bilan: reporting_pb2.Bilan | None) -> dict[str, object]:
    """What the template shows of an answered bilan: period, breakdowns and charts."""
    if bilan is None:
        return {
            "bilan": None,
            "period": "",
            "breakdowns": [],
            "durations": [],
            "activity": None,
            "collective": None,
            "signals": None,
            "aides": None,
        }
    period_start = _day_fr(getattr(bilan, "from").ToDatetime(tzinfo=UTC))
    period_end = _day_fr(_last_day(bilan))
    # A stage no dossier of the period went through has no duration to show.
    durations = [d for d in bilan.stage_durations if d.dossiers]
    activity = bilan.activity
    return {
        "bilan": bilan,
        "period": f"du {period_start} au {period_end}",
        "period_start": period_start,
        "period_end": period_end,
        "communes_text": ", ".join(bilan.territory_labels),
        "breakdowns": breakdowns(bilan),
        "durations": durations,
        "duration_chart": _duration_chart(durations),
        "partner_chart": _partner_chart(bilan.partners),
        # Shown when the period or the one before it had appointments (as the HTML document).
        "activity": bilan.activity if activity.appointments or activity.previous_appointments else None,
        "activity_tables": activity_tables(activity),
        **outreach(bilan),
        **aides(bilan),
    }


def render_bilan(
    page: Page,
    filters: Filters,
    errors: FormErrors,
    bilan: reporting_pb2.Bilan | None,
    status: int = 200,
) -> Response:
    territories = sorted(page.session.agent.territories)
    if bilan is not None:
        # The communes the service counted (all of the agent's when none was checked).
        checked = set(bilan.territories)
    else:
        checked = set(filters.communes) if filters.communes else set(territories)
    figures = _figures(bilan)
    title = f"Bilan d'activité {figures['period']}".strip()
    return page.render(
        "bilan_page.html",
        status=status,
        title=("Erreur : " if errors else "") + title,
        filters=filters,
        values={"du": filters.du, "au": filters.au},
        errors=errors,
        territories=territories,
        checked=checked,
        quick_links=_quick_links(filters),
        csv_url=f"/bilan/export?{filters.query(format='csv')}",
        html_url=f"/bilan/export?{filters.query(format='html')}",
        **figures,
        **_formatters(),
    )


async def bilan_page(page: Page) -> Response:
    filters = filters_of(page)
    request, errors = bilan_request(filters)
    if errors:
        return render_bilan(page, filters, errors, None, status=400)
    try:
        bilan = await page.calls.reporting.GetBilan(request)
    except grpc.RpcError as error:
        refused = refusal(error)
        if refused is None:
            raise
        return render_bilan(page, filters, refused, None, status=_status_of(error))
    return render_bilan(page, filters, FormErrors(), bilan)


def download_name(filters: Filters, document: reporting_pb2.BilanDocument, fmt: str) -> str:
    """bilan-<first day>-<last day>.<extension>, the form's days (inclusive)."""
    start, end = parse_day(filters.du), parse_day(filters.au)
    extension = document.filename.rsplit(".", 1)[-1].lower() if "." in document.filename else fmt
    if not _EXTENSION.match(extension):
        extension = "txt"
    if start is None or end is None:
        return f"bilan.{extension}"
    return f"bilan-{start.isoformat()}-{end.isoformat()}.{extension}"


async def bilan_export(page: Page) -> Response:
    filters = filters_of(page)
    fmt = query(page.request, "format")
    request, errors = bilan_request(filters)
    if errors:
        return render_bilan(page, filters, errors, None, status=400)
    try:
        document = await page.calls.reporting.ExportBilan(
            reporting_pb2.ExportBilanRequest(bilan=request, format=fmt)
        )
    except grpc.RpcError as error:
        refused = refusal(error)
        if refused is None:
            raise
        return render_bilan(page, filters, refused, None, status=_status_of(error))
    return Response(
        content=document.content,
        media_type=document.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{download_name(filters, document, fmt)}"',
            "Cache-Control": "no-store",
        },
    )


ROUTES = [
    page_route("/bilan", bilan_page),
    page_route("/bilan/export", bilan_export),
]
