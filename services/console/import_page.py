"""Importing a CCAS's existing file of past dossiers, for responsables: the form (the
file, a default arrival channel, the file's header for each field), a check of the file
or its import, and the intake service's report (ImportDossiers).

Nothing of the file is kept here: each button sends it again, the dry run and the import
alike. Every rule (what a row needs, who is already known, what a second import of the
same file does) is the service's; this page sends the form and shows the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from entraide.v1 import intake_pb2
from starlette.datastructures import UploadFile
from starlette.responses import Response

from domain.import_fields import FORMATS, MAX_FILENAME_LENGTH
from kernel import hard_input, rich_status
from kernel.auth import Role
from services.console.person_page import role_refusal
from services.console.templating import date_fr
from services.console.web import FORM_CODES, FormErrors, Page, PageFailure, new_request_id, page_route

# The file and the rest of the request travel in one message of the API.
MAX_MESSAGE_BYTES = hard_input.MAX_MESSAGE_BYTES
# 10,000 rows take up to about a minute: longer than a page's usual call.
IMPORT_TIMEOUT_S = 120.0
MAX_HEADER_LENGTH = 200
TOO_BIG = (
    "Le fichier dépasse 4 Mo, la taille maximale d'un envoi : découpez-le en plusieurs fichiers"
    " (par exemple par année) et importez-les l'un après l'autre."
)
NO_FILE = "Choisissez le fichier à importer : un fichier .csv ou .xlsx."
WRONG_KIND = "Le fichier doit être un fichier .csv ou .xlsx (enregistrez-le sous l'un de ces formats)."


@dataclass(frozen=True)
class ImportField:
    """One input of « Correspondance des colonnes »: a field, its template header."""

    code: str
    header: str
    label: str

    @property
    def name(self) -> str:
        return f"colonne-{self.code}"


def require_responsable(page: Page) -> None:
    if page.session.agent.role is not Role.RESPONSABLE:
        raise PageFailure(
            403, "Accès refusé", "L'import de dossiers est réservé aux agents de rôle responsable."
        )


def import_fields(data: Any) -> list[ImportField]:
    """ListReferenceData's import_fields: « numero_dossier : Numéro du dossier… »."""
    fields = []
    for item in data.import_fields:
        header, found, label = str(item.label).partition(" : ")
        fields.append(ImportField(item.code, header if found else "", label if found else header))
    return fields


def input_of(path: str, fields: list[ImportField]) -> str:
    """The form's input of a refused request field: `columns[reference]` is the
    « reference » column's input, `defaults[…]` the channel, the rest the file."""
    head, _, rest = path.partition("[")
    code = rest.removesuffix("]")
    if head == "columns":
        return f"colonne-{code}" if any(f.code == code for f in fields) else "colonnes"
    return "canal" if head == "defaults" else "fichier"


def refusal_errors(error: grpc.RpcError, fields: list[ImportField]) -> FormErrors:
    described = rich_status.describe(error)
    errors = FormErrors(described.fr)
    for violation in described.violations:
        errors.fields.setdefault(input_of(violation.field, fields), violation.fr)
    return errors


def summary(report: intake_pb2.ImportReport) -> list[tuple[str, int]]:
    dry = report.dry_run
    return [
        ("Lignes lues", report.rows),
        ("Lignes acceptées", report.accepted),
        ("Lignes rejetées", report.rejected),
        ("Dossiers à créer" if dry else "Dossiers créés", report.dossiers_created),
        ("Dossiers déjà importés", report.already_imported),
        ("Personnes à créer" if dry else "Personnes créées", report.persons_created),
        ("Foyers à créer" if dry else "Foyers créés", report.households_created),
        ("Dossiers encore ouverts (échéances reprises en arrière-plan)", report.workflows_to_start),
        *(
            [("Dossiers au-delà de la durée de conservation (anonymisés cette nuit)", report.past_retention)]
            if report.past_retention
            else []
        ),
    ]


def period(report: intake_pb2.ImportReport) -> str:
    if not report.HasField("earliest_opened_at"):
        return ""
    return f"du {date_fr(report.earliest_opened_at)} au {date_fr(report.latest_opened_at)}"


def number(value: int) -> str:
    """1 234: thousands by a narrow no-break space, as the bilan writes them."""
    return f"{value:,}".replace(",", "\u202f")


async def reference_data(page: Page) -> Any:
    return await page.calls.intake.ListReferenceData(intake_pb2.ListReferenceDataRequest())


def render_form(
    page: Page,
    data: Any,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    refusal: str = "",
    report: intake_pb2.ImportReport | None = None,
    filename: str = "",
) -> Response:
    values = values or {}
    errors = errors or FormErrors()
    fields = import_fields(data)
    return page.render(
        "import_page.html",
        status=status,
        title="Importer des dossiers",
        values=values,
        errors=errors,
        refusal=refusal,
        channels=[(item.code, item.label) for item in data.arrival_channels],
        fields=fields,
        columns_open=any(values.get(f.name) or f.name in errors.fields for f in fields)
        or "colonnes" in errors.fields,
        report=report,
        filename=filename,
        summary=summary(report) if report is not None else [],
        period=period(report) if report is not None else "",
        number=number,
        request_id=new_request_id(),
    )


async def import_page(page: Page) -> Response:
    require_responsable(page)
    return render_form(page, await reference_data(page))


def _filename(upload: UploadFile) -> str:
    """The file's own name, without the folders some browsers send."""
    return (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:MAX_FILENAME_LENGTH]


@dataclass(frozen=True)
class Uploaded:
    filename: str
    format: str
    content: bytes


def unusable(message: str) -> FormErrors:
    return FormErrors(message, {"fichier": message})


async def _uploaded(page: Page) -> Uploaded | FormErrors:
    """The file's name, format and content; or what is wrong with it (no call made)."""
    upload = page.form.get("fichier") if page.form is not None else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return unusable(NO_FILE)
    filename = _filename(upload)
    format_ = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if format_ not in FORMATS:
        return unusable(WRONG_KIND)
    content = await upload.read(MAX_MESSAGE_BYTES + 1)
    if len(content) > MAX_MESSAGE_BYTES:
        return unusable(TOO_BIG)
    return Uploaded(filename, format_, content)


async def run_import(page: Page) -> Response:
    """« Vérifier le fichier » (a dry run: no request id, nothing is written) or
    « Importer » (the form's request id: a double click is one import)."""
    require_responsable(page)
    data = await reference_data(page)
    fields = import_fields(data)
    values = {f.name: page.field(f.name)[:MAX_HEADER_LENGTH] for f in fields}
    values["canal"] = page.field("canal")
    uploaded = await _uploaded(page)
    if isinstance(uploaded, FormErrors):
        status = 413 if uploaded.message == TOO_BIG else 400  # 413: too large for the API
        return render_form(page, data, status, values, uploaded)
    dry_run = page.field("action") != "importer"
    request = intake_pb2.ImportDossiersRequest(
        request_id="" if dry_run else page.field("request_id")[:100],
        format=uploaded.format,
        content=uploaded.content,
        filename=uploaded.filename,
        columns={f.code: values[f.name] for f in fields if values[f.name]},
        defaults={"arrival_channel": values["canal"]} if values["canal"] else {},
        dry_run=dry_run,
    )
    if request.ByteSize() > MAX_MESSAGE_BYTES:
        return render_form(page, data, 413, values, unusable(TOO_BIG))
    try:
        report = await page.calls.intake.ImportDossiers(request, timeout=IMPORT_TIMEOUT_S)
    except grpc.RpcError as error:
        refusal = role_refusal(error)
        if refusal:
            return render_form(page, data, 403, values, refusal=refusal)
        if rich_status.describe(error).code not in FORM_CODES:
            raise
        return render_form(page, data, 400, values, refusal_errors(error, fields))
    return render_form(page, data, values=values, report=report, filename=uploaded.filename)


ROUTES = [
    page_route("/import", import_page),
    page_route("/import", run_import, methods=("POST",), name="run_import"),
]
