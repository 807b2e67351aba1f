"""`entraide import FICHIER`: a CCAS's existing file of past dossiers (CSV or XLSX)
brought in by a responsable (IntakeService.ImportDossiers): its arguments, the call and
the French report. Exit 0 when every row was accepted, 1 when some were rejected (or the
service refused the file), 2 a usage error."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from entraide.v1 import intake_pb2, intake_pb2_grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from domain.import_fields import FORMATS as IMPORT_FORMATS
from domain.import_fields import MAX_FILENAME_LENGTH, ImportField
from entraide_cli import errors, i18n
from entraide_cli.commands import _channel
from entraide_cli.render import PARIS, fields, number, render_text, section
from entraide_cli.retries import action_id
from kernel.hard_input import MAX_MESSAGE_BYTES
from kernel.settings import Settings

# File extension → format.
FORMATS = {f".{format_}": format_ for format_ in IMPORT_FORMATS}
# 10,000 rows take up to about a minute: the call waits at least this long.
IMPORT_TIMEOUT_S = 120.0
HELP = "importer un fichier de dossiers passés (CSV ou XLSX), réservé aux responsables"
EPILOG = """\
Chaque ligne est vérifiée ; une ligne rejetée (ligne, colonne, raison) n'est pas
enregistrée, les autres le sont. Importer de nouveau le même fichier ne change rien :
un import interrompu se reprend en renvoyant le fichier. Une colonne est cherchée sous
l'en-tête du modèle ou sous le code du champ (voir `entraide referentiel`, « Champs
d'un fichier importé »), sinon sous l'en-tête donné par --colonne.
L'appel attend jusqu'à 120 secondes (davantage avec --timeout) : 10 000 lignes
prennent jusqu'à une minute.

Exemple :
  entraide import ancien.csv --simulation --colonne reference="N° dossier" \\
      --valeur outcome:Résolu=regle --defaut arrival_channel=visite_spontanee

Codes de sortie :
  0  toutes les lignes ont été acceptées
  1  des lignes ont été rejetées (elles sont listées), ou le service a refusé le fichier
  2  erreur d'utilisation : option invalide, fichier illisible, format inconnu
  3  le service ne répond pas
"""


@dataclass(frozen=True)
class ImportFile:
    """FICHIER, read when the arguments are parsed."""

    path: str
    content: bytes


def read_file(path: str) -> ImportFile:
    """FICHIER: read in binary (CSV or XLSX)."""
    try:
        with open(path, "rb") as file:
            return ImportFile(path, file.read())
    except OSError as exc:
        why = errors.OS_ERRORS.get(exc.errno or 0, exc.strerror or "erreur du système")
        raise argparse.ArgumentTypeError(f"impossible de lire « {path} » : {why}") from None


def _split(raw: str, separator: str, expected: str) -> tuple[str, str]:
    name, found, rest = raw.partition(separator)
    if not found or not name.strip() or not rest.strip():
        raise argparse.ArgumentTypeError(f"attendu {expected}, pas « {raw} »")
    return name.strip(), rest.strip()


def column(raw: str) -> tuple[str, str]:
    """--colonne CHAMP=ENTÊTE."""
    return _split(raw, "=", "CHAMP=ENTÊTE")


def default(raw: str) -> tuple[str, str]:
    """--defaut CHAMP=VALEUR."""
    return _split(raw, "=", "CHAMP=VALEUR")


def value(raw: str) -> intake_pb2.ImportValue:
    """--valeur CHAMP:VALEUR=CODE (the code is after the last "=")."""
    field, rest = _split(raw, ":", "CHAMP:VALEUR=CODE")
    written, found, code = rest.rpartition("=")
    # A site may be translated to nothing (site:Domicile=): the dossier records no site.
    if not found or not written.strip() or (not code.strip() and field != ImportField.SITE):
        raise argparse.ArgumentTypeError(f"attendu CHAMP:VALEUR=CODE, pas « {raw} »")
    return intake_pb2.ImportValue(field=field, value=written.strip(), code=code.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments; `parser` is the subcommand's (main._command)."""
    parser.epilog = EPILOG
    parser.add_argument(
        "fichier", type=read_file, metavar="FICHIER", help="le fichier à importer (.csv ou .xlsx)"
    )
    parser.add_argument(
        "--simulation",
        action="store_true",
        help="vérifier chaque ligne et tout compter, sans rien enregistrer",
    )
    parser.add_argument(
        "--format",
        choices=IMPORT_FORMATS,
        default="",
        help="format du fichier (par défaut : d'après son extension)",
    )
    parser.add_argument(
        "--colonne",
        type=column,
        action="append",
        default=[],
        metavar="CHAMP=ENTÊTE",
        help='la colonne du fichier qui tient ce champ (répétable), ex. reference="N° dossier"',
    )
    parser.add_argument(
        "--valeur",
        type=value,
        action="append",
        default=[],
        metavar="CHAMP:VALEUR=CODE",
        help="une valeur du fichier traduite en code d'Entraide (répétable), ex. outcome:Résolu=regle",
    )
    parser.add_argument(
        "--defaut",
        type=default,
        action="append",
        default=[],
        metavar="CHAMP=VALEUR",
        help="la valeur d'un champ absent ou vide (répétable), ex. arrival_channel=visite_spontanee",
    )
    parser.add_argument(
        "--request-id", default="", metavar="ID", help="identifiant de la demande (idempotence)"
    )
    parser.set_defaults(exit_status=exit_status, usage_parser=parser)


def _usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    """A French usage error (exit 2) found after parsing: the format, the file's size."""
    parser: argparse.ArgumentParser = args.usage_parser
    with i18n.french_argparse():
        parser.error(message)


def format_of(args: argparse.Namespace) -> str:
    given: str = args.format
    if given:
        return given
    path: str = args.fichier.path
    found = FORMATS.get(Path(path).suffix.lower())
    if found is None:
        _usage_error(
            args, f"format inconnu pour « {path} » : un fichier .csv ou .xlsx, ou précisez --format csv|xlsx"
        )
    return found


def import_dossiers(args: argparse.Namespace, settings: Settings) -> Message:
    file: ImportFile = args.fichier
    request = intake_pb2.ImportDossiersRequest(
        request_id=action_id(args),
        format=format_of(args),
        content=file.content,
        filename=Path(file.path).name[:MAX_FILENAME_LENGTH],
        columns=dict(args.colonne),
        values=args.valeur,
        defaults=dict(args.defaut),
        dry_run=args.simulation,
    )
    if request.ByteSize() > MAX_MESSAGE_BYTES:
        size = number(len(file.content) / 1024 / 1024, 1)
        _usage_error(
            args,
            f"« {file.path} » fait {size} Mo : un envoi fait 4 Mo au plus, découpez le fichier en plusieurs",
        )
    stub = intake_pb2_grpc.IntakeServiceStub(_channel(settings, "intake"))
    report: intake_pb2.ImportReport = stub.ImportDossiers(
        request, timeout=max(args.timeout, IMPORT_TIMEOUT_S)
    )
    return report


def exit_status(result: Message) -> int:
    """1 when some rows were rejected: a script can tell."""
    rejected = isinstance(result, intake_pb2.ImportReport) and result.rejected > 0
    return errors.EXIT_REFUSED if rejected else 0


# ---- the report ------------------------------------------------------------------------
def _day(stamp: Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=PARIS).strftime("%d/%m/%Y")


def _period(report: intake_pb2.ImportReport) -> str:
    if not report.HasField("earliest_opened_at"):
        return ""
    return f"du {_day(report.earliest_opened_at)} au {_day(report.latest_opened_at)}"


def _error(error: intake_pb2.ImportRowError) -> str:
    where = f", colonne « {error.column} »" if error.column else ""
    return f"ligne {error.line}{where} : {error.message}"


def _duplicate(duplicate: intake_pb2.ImportDuplicate) -> str:
    if duplicate.kind == "same_person":
        return f"ligne {duplicate.line} : personne déjà connue ({duplicate.person_id}), dossier rattaché"
    return f"ligne {duplicate.line} : doublon possible avec ({duplicate.person_id}), à vérifier"


@render_text.register
def _report(message: intake_pb2.ImportReport) -> str:
    dry = message.dry_run
    head = "Simulation : rien n'a été enregistré." if dry else f"Import enregistré : {message.import_id}"
    summary = fields(
        [
            ("Lignes lues", number(message.rows)),
            ("Lignes acceptées", number(message.accepted)),
            ("Lignes rejetées", number(message.rejected)),
            ("Dossiers à créer" if dry else "Dossiers créés", number(message.dossiers_created)),
            ("Dossiers déjà importés", number(message.already_imported)),
            ("Personnes à créer" if dry else "Personnes créées", number(message.persons_created)),
            ("Foyers à créer" if dry else "Foyers créés", number(message.households_created)),
            ("Dossiers encore ouverts", number(message.workflows_to_start)),
            (
                "Au-delà de la durée de conservation",
                number(message.past_retention) if message.past_retention else "",
            ),
            ("Période couverte", _period(message)),
        ]
    )
    parts = [head, summary]
    if message.errors:
        parts.append(section("Rejets, par ligne", map(_error, message.errors), "aucune"))
    if message.duplicates:
        parts.append(section("Personnes déjà connues", map(_duplicate, message.duplicates), "aucune"))
    return "\n\n".join(parts)
