"""`entraide`: dossiers, persons and figures from a terminal.

Addresses come from ENTRAIDE_<SERVICE>_ADDR (written by `make up` into
.state/stack.env) or default to the local stack's ports. Output is French for
people, or JSON with --json. This module parses arguments (argparse's own texts in
French, i18n.py) and prints; the gRPC calls are in commands.py, the French text in
render.py, failures in errors.py. Exit codes: 0 done, 1 refused by a service, 2 usage
error, 3 a service does not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from entraide.v1 import intake_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from domain.vocabulary import REFERRAL_OUTCOMES, REFERRAL_REASONS, REFERRAL_STATUSES
from entraide_cli import commands, errors, i18n, importing, render
from entraide_cli.commands import Command
from entraide_cli.render import render_text
from kernel.settings import Settings

Subparsers = Any  # argparse's _SubParsersAction is private


EPILOG = """\
L'agent qui agit, et qui lit, est celui du jeton ENTRAIDE_TOKEN (`make up` en écrit un
dans .state/stack.env, lu par cette commande) ; les services sont cherchés à
ENTRAIDE_INTAKE_ADDR, ENTRAIDE_REFERRAL_ADDR, ENTRAIDE_REPORTING_ADDR.

Codes de sortie :
  0  réussite
  1  le service a refusé la demande (la raison s'affiche, son code entre crochets) ;
     pour `import` : des lignes du fichier ont été rejetées
  2  erreur d'utilisation : option manquante ou invalide
  3  un service ne répond pas (la pile est-elle démarrée ? `make up`)
"""
REMOVED_AGENT = "{option} n'existe plus : l'agent qui agit est celui du jeton (ENTRAIDE_TOKEN)"


def _read_notes(path: str) -> str:
    """--notes-file: a UTF-8 text file, or "-" for standard input."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        why = errors.OS_ERRORS.get(exc.errno or 0, exc.strerror or "erreur du système")
        raise argparse.ArgumentTypeError(f"impossible de lire « {path} » : {why}") from None
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"« {path} » n'est pas un texte UTF-8") from None


def _comma_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre entier attendu, pas « {raw} »") from None


def _seconds(raw: str) -> float:
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre de secondes attendu, pas « {raw} »") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"le délai doit être positif, pas « {raw} »")
    return value


def _day(raw: str) -> str:
    try:
        commands.day_start(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date invalide « {raw} » (attendu AAAA-MM-JJ)") from None
    return raw


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """French typography in the help: « options : » rather than « options: »."""

    def start_section(self, heading: str | None) -> None:
        super().start_section(f"{heading} " if heading else heading)


class _Removed(argparse.Action):
    """`--agent` on commands where the acting agent is the token's subject: a French
    usage error rather than "unrecognized arguments"."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: str | None = None
    ) -> None:
        parser.error(REMOVED_AGENT.format(option=option_string))


class _Deprecated(argparse.Action):
    """A former name of an option: still accepted, its new name said on stderr."""

    def __init__(self, *args: Any, replacement: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replacement = replacement

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: str | None = None
    ) -> None:
        print(f"{option_string} est obsolète : utilisez {self.replacement}.", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _no_agent(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent", nargs="?", action=_Removed, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def _common() -> argparse.ArgumentParser:
    """Options every subcommand also accepts after its name (`entraide dossier ID --json`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="sortie JSON")
    return common


def _command(
    group: Subparsers, name: str, alias: str, help_text: str, run: Command, done: str = ""
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(
        name,
        aliases=[alias],
        help=help_text,
        description=help_text,
        parents=[_common()],
        formatter_class=_Formatter,
    )
    parser.set_defaults(run=run, done=done)
    return parser


def _group(group: Subparsers, name: str, alias: str, help_text: str) -> Subparsers:
    """A command with actions (`entraide personne creer …`)."""
    parser = group.add_parser(
        name, aliases=[alias], help=help_text, description=help_text, formatter_class=_Formatter
    )
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION", title="actions")


def _dossier_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dossier_id", metavar="DOSSIER_ID", help="identifiant du dossier")


def _step(
    group: Subparsers, name: str, alias: str, help_text: str, run: Command, done: str
) -> argparse.ArgumentParser:
    """A lifecycle step on DOSSIER_ID, by the token's agent."""
    parser = _command(group, name, alias, help_text, run, done)
    _dossier_id(parser)
    _no_agent(parser)
    return parser


def _notes(parser: argparse.ArgumentParser, *, private: bool = True) -> None:
    notes = parser.add_mutually_exclusive_group()
    notes.add_argument("--notes", default="", metavar="TEXTE", help="texte de la note")
    notes.add_argument(
        "--notes-file",
        dest="notes",
        type=_read_notes,
        metavar="FICHIER",
        help="note lue dans un fichier UTF-8 (- : entrée standard)",
    )
    if private:
        parser.add_argument("--prive", action="store_true", help="note visible de son seul auteur")


def _add_dossier_commands(group: Subparsers) -> None:
    opening = _command(group, "ouvrir", "open", "ouvrir un dossier (accueil)", commands.open_dossier)
    opening.add_argument(
        "--commune",
        "--territory",
        dest="territory",
        required=True,
        metavar="CODE",
        help="code INSEE de la commune",
    )
    opening.add_argument("--motif", action="append", required=True, help="code motif (répétable)")
    opening.add_argument(
        "--canal", "--channel", dest="channel", required=True, metavar="CANAL", help="canal d'arrivée (code)"
    )
    opening.add_argument(
        "--site",
        default="",
        metavar="CODE",
        help="code du site d'accueil, un site de la commune (liste : entraide referentiel)",
    )
    opening.add_argument("--urgent", action="store_true", help="situation urgente")
    opening.add_argument("--personne", default="", metavar="ID", help="identifiant de la personne aidée")
    opening.add_argument("--foyer", default="", metavar="ID", help="identifiant de son foyer")
    opening.add_argument(
        "--attribuer-a", dest="assignee", default="", metavar="AGENT", help="agent à qui attribuer le dossier"
    )
    opening.add_argument(
        "--agent",
        dest="assignee",
        default="",
        action=_Deprecated,
        replacement="--attribuer-a",
        help=argparse.SUPPRESS,
    )
    opening.add_argument(
        "--request-id", default="", metavar="ID", help="identifiant de la demande (idempotence)"
    )
    opening.add_argument(
        "--id",
        dest="print_id",
        action="store_true",
        help="n'afficher que l'identifiant du dossier (DOSSIER=$(entraide ouvrir … --id))",
    )

    showing = _command(group, "dossier", "show", "afficher un dossier", commands.show_dossier)
    _dossier_id(showing)

    history = _command(
        group,
        "chronologie",
        "timeline",
        "chronologie d'un dossier, notes et échéances (vos notes privées comprises)",
        commands.timeline,
    )
    _dossier_id(history)
    _no_agent(history)

    listing = _command(
        group, "dossiers", "list", "dossiers d'une commune, récents d'abord", commands.list_dossiers
    )
    listing.add_argument(
        "--commune",
        "--territory",
        dest="territory",
        required=True,
        metavar="CODE",
        help="code INSEE de la commune",
    )
    listing.add_argument(
        "--etape",
        choices=sorted(commands.STAGE_CODES),
        default="",
        help="seulement les dossiers à cette étape",
    )
    listing.add_argument(
        "--taille",
        type=_integer,
        default=0,
        metavar="N",
        help="dossiers par page (50 par défaut, 200 au plus)",
    )
    listing.add_argument(
        "--page", default="", metavar="JETON", help="page suivante (jeton affiché par la page précédente)"
    )


def _add_step_commands(group: Subparsers) -> None:
    interview = _step(
        group,
        "entretien",
        "interview",
        "noter un entretien d'écoute",
        commands.record_interview,
        "Entretien enregistré",
    )
    _notes(interview)

    ecoute = _step(
        group,
        "fin-ecoute",
        "complete-ecoute",
        "terminer l'écoute",
        commands.complete_ecoute,
        "Écoute terminée",
    )
    ecoute.add_argument("--vers", choices=["orientation", "suivi"], required=True, help="étape suivante")
    ecoute.add_argument("--motif", action="append", default=[], help="motif réévalué (répétable)")

    _step(group, "suivi", "start-suivi", "passer le dossier en suivi", commands.start_suivi, "Suivi commencé")

    contact = _step(
        group,
        "contact",
        "follow-up",
        "noter un contact de suivi",
        commands.record_follow_up,
        "Contact enregistré",
    )
    _notes(contact)

    assign = _step(
        group, "attribuer", "assign", "attribuer le dossier", commands.assign_agent, "Dossier attribué"
    )
    assign.add_argument(
        "--a",
        "--attribuer-a",
        dest="a",
        required=True,
        metavar="AGENT",
        help="agent à qui attribuer le dossier",
    )

    closing = _step(
        group, "cloturer", "close", "clôturer le dossier", commands.close_dossier, "Dossier clôturé"
    )
    closing.add_argument("--issue", required=True, help="code de l'issue (voir `entraide referentiel`)")
    _notes(closing, private=False)

    reopen = _step(
        group, "rouvrir", "reopen", "rouvrir un dossier clôturé", commands.reopen_dossier, "Dossier rouvert"
    )
    reopen.add_argument(
        "--motif-reouverture", default="", metavar="TEXTE", help="pourquoi le dossier est rouvert"
    )


def _add_person_commands(group: Subparsers) -> None:
    person = _group(group, "personne", "person", "personnes aidées")
    create = _command(person, "creer", "create", "enregistrer une personne", commands.create_person)
    create.add_argument(
        "--commune",
        "--territory",
        dest="territory",
        required=True,
        metavar="CODE",
        help="commune du dossier (code INSEE)",
    )
    create.add_argument("--nom", required=True, metavar="NOM", help="nom de famille")
    create.add_argument("--prenom", required=True, metavar="PRÉNOM", help="prénom")
    create.add_argument("--naissance", default="", metavar="AAAA-MM-JJ", help="date de naissance")
    create.add_argument("--telephone", default="", metavar="NUMÉRO", help="numéro de téléphone")
    create.add_argument("--courriel", default="", metavar="ADRESSE", help="adresse électronique")
    create.add_argument(
        "--commune-residence", default="", metavar="CODE", help="commune de résidence (code INSEE)"
    )
    create.add_argument("--adresse", default="", metavar="ADRESSE", help="adresse postale (rue, numéro)")
    create.add_argument(
        "--request-id", default="", metavar="ID", help="identifiant de la demande (idempotence)"
    )

    show = _command(person, "voir", "show", "afficher une personne", commands.show_person)
    show.add_argument("person_id", metavar="ID", help="identifiant de la personne")

    merge = _command(
        person,
        "fusionner",
        "merge",
        "fusionner un doublon dans une personne",
        commands.merge_persons,
        "Personnes fusionnées ; personne conservée",
    )
    merge.add_argument("--garder", required=True, metavar="ID", help="personne conservée")
    merge.add_argument("--doublon", required=True, metavar="ID", help="doublon fondu dans la première")
    _no_agent(merge)

    household = _group(group, "foyer", "household", "foyers")
    create = _command(household, "creer", "create", "créer un foyer", commands.create_household, "Foyer créé")
    create.add_argument(
        "--commune",
        "--territory",
        dest="territory",
        required=True,
        metavar="CODE",
        help="code INSEE de la commune",
    )
    create.add_argument("--membre", action="append", required=True, metavar="ID", help="membre (répétable)")

    consent = _group(group, "consentement", "consent", "consentements au partage")
    record = _command(
        consent,
        "enregistrer",
        "record",
        "enregistrer un consentement ou une base légale",
        commands.record_consent,
        "Consentement enregistré",
    )
    record.add_argument("--personne", required=True, metavar="ID", help="personne qui consent")
    record.add_argument(
        "--partenaire",
        required=True,
        metavar="ID",
        help="identifiant du partenaire (voir `entraide partenaires`)",
    )
    record.add_argument(
        "--donnees",
        action="extend",
        type=_comma_list,
        required=True,
        metavar="LISTE",
        help="données partagées : identite,contact,motif",
    )
    record.add_argument("--dossier", default="", metavar="ID", help="dossier concerné (facultatif)")
    record.add_argument(
        "--type", choices=sorted(commands.CONSENT_KINDS), required=True, help="consentement ou base légale"
    )
    record.add_argument(
        "--canal",
        choices=sorted(commands.CONSENT_CHANNELS),
        default="",
        help="comment le consentement a été donné (obligatoire pour un consentement)",
    )
    record.add_argument(
        "--base-legale", default="", metavar="TEXTE", help="fondement légal (pour --type base_legale)"
    )
    _no_agent(record)

    withdraw = _command(
        consent,
        "retirer",
        "revoke",
        "enregistrer le retrait d'un consentement par la personne (les orientations en cours qu'il"
        " couvrait sont annulées)",
        commands.revoke_consent,
        "Consentement retiré",
    )
    withdraw.add_argument("--consentement", required=True, metavar="ID", help="identifiant du consentement")
    withdraw.add_argument(
        "--canal",
        choices=sorted(commands.CONSENT_CHANNELS),
        required=True,
        help="comment la personne a retiré son consentement",
    )
    _no_agent(withdraw)

    listing = _command(consent, "lister", "list", "consentements d'une personne", commands.list_consents)
    listing.add_argument("--personne", required=True, metavar="ID", help="identifiant de la personne")


def _add_figure_commands(group: Subparsers) -> None:
    counting = _command(group, "chiffres", "counts", "dossiers ouverts par motif", commands.motif_counts)
    counting.add_argument("--territory", "--commune", default="", help="seulement cette commune (code INSEE)")

    listing = _command(
        group,
        "partenaires",
        "partners",
        "annuaire des partenaires, avec l'identifiant que prennent orienter et consentement",
        commands.partners,
    )
    listing.add_argument("--motif", default="", help="seulement les partenaires servant ce motif (code)")
    listing.add_argument(
        "--commune",
        "--territory",
        dest="territory",
        default="",
        metavar="CODE",
        help="seulement les partenaires de cette commune (code INSEE)",
    )

    _command(group, "referentiel", "reference", "motifs, canaux, communes, issues", commands.reference_data)

    report = _command(group, "bilan", "report", "bilan d'activité d'une période", commands.bilan)
    report.add_argument("--du", required=True, type=_day, metavar="AAAA-MM-JJ", help="premier jour (inclus)")
    report.add_argument("--au", required=True, type=_day, metavar="AAAA-MM-JJ", help="dernier jour (exclu)")
    report.add_argument(
        "--commune", action="append", default=[], metavar="CODE", help="code INSEE (répétable)"
    )
    report.add_argument("--format", choices=["csv", "html"], default="", help="exporter en CSV ou HTML")
    report.add_argument("--sortie", default="", metavar="FICHIER", help="fichier de l'export")

    ops = _command(
        group, "ops", "ops", "exploitation : étapes, retards, dossiers bloqués, files", commands.ops_overview
    )
    ops.add_argument("--commune", action="append", default=[], metavar="CODE", help="code INSEE (répétable)")
    ops.add_argument(
        "--jours", type=_integer, default=30, metavar="N", help="sans avancée depuis N jours (30 par défaut)"
    )
    ops.add_argument(
        "--limite", type=_integer, default=50, metavar="N", help="dossiers listés au plus (50 par défaut)"
    )


def _add_referral_commands(group: Subparsers) -> None:
    refer = _command(
        group, "orienter", "refer", "orienter la personne vers un partenaire", commands.create_referral
    )
    _dossier_id(refer)
    refer.add_argument(
        "--partenaire",
        required=True,
        metavar="ID",
        help="identifiant du partenaire (voir `suggestions` ou `partenaires`)",
    )
    refer.add_argument("--motif", required=True, help="motif de l'orientation (un des motifs du dossier)")
    refer.add_argument(
        "--message", default="", metavar="TEXTE", help="ce que le partenaire doit savoir (jamais les notes)"
    )
    refer.add_argument(
        "--donnees",
        action="extend",
        type=_comma_list,
        default=[],
        metavar="LISTE",
        help="données transmises en plus du motif : identite,contact (le consentement doit les couvrir)",
    )
    refer.add_argument(
        "--request-id", default="", metavar="ID", help="identifiant de la demande (idempotence)"
    )
    _no_agent(refer)

    cancel = _command(
        group,
        "annuler-orientation",
        "cancel-referral",
        "annuler une orientation",
        commands.cancel_referral,
        "Orientation annulée",
    )
    cancel.add_argument("referral_id", metavar="ORIENTATION_ID", help="identifiant de l'orientation")
    cancel.add_argument(
        "--motif-annulation", default="", metavar="TEXTE", help="pourquoi l'orientation est annulée"
    )
    _no_agent(cancel)

    listing = _command(
        group, "orientations", "referrals", "orientations d'un dossier", commands.dossier_referrals
    )
    _dossier_id(listing)

    suggest = _command(
        group,
        "suggestions",
        "suggest",
        "partenaires servant les motifs du dossier dans sa commune, prochaine permanence",
        commands.suggest_partners,
    )
    _dossier_id(suggest)


def _codes(codes: Sequence[str], labels: dict[str, str]) -> str:
    """« no_capacity (pas de place), … » for the help of a choice of codes."""
    return ", ".join(f"{code} ({labels[code]})" if code in labels else code for code in codes)


def _add_partner_commands(group: Subparsers) -> None:
    """The partner side: the token (ENTRAIDE_TOKEN) names the partner."""
    partner = _group(group, "partenaire", "partner", "côté partenaire : ses orientations et ses réponses")
    mine = _command(partner, "orientations", "referrals", "orientations reçues", commands.my_referrals)
    mine.add_argument(
        "--statut",
        choices=sorted([*commands.REFERRAL_STATUS_CODES, *REFERRAL_STATUSES]),
        default="",
        help="seulement les orientations dans ce statut",
    )
    show = _command(partner, "voir", "show", "afficher une orientation", commands.show_referral)
    show.add_argument("referral_id", metavar="ORIENTATION_ID", help="identifiant de l'orientation")

    reasons = "motif : " + _codes(REFERRAL_REASONS, render.REFERRAL_REASONS)
    steps: list[tuple[str, str, str, Command, str]] = [
        ("accuser", "acknowledge", "accuser réception", commands.acknowledge_referral, "Réception accusée"),
        ("accepter", "accept", "accepter l'orientation", commands.accept_referral, "Orientation acceptée"),
        ("refuser", "reject", "refuser l'orientation", commands.reject_referral, "Orientation refusée"),
        (
            "demarrer",
            "start",
            "commencer l'accompagnement",
            commands.start_referral,
            "Accompagnement commencé",
        ),
        (
            "terminer",
            "complete",
            "terminer l'accompagnement",
            commands.complete_referral,
            "Orientation terminée",
        ),
        ("echec", "fail", "signaler un échec", commands.fail_referral, "Échec enregistré"),
    ]
    for name, alias, help_text, run, done in steps:
        step = _command(partner, name, alias, help_text, run, done)
        step.add_argument("referral_id", metavar="ORIENTATION_ID", help="identifiant de l'orientation")
        if name == "refuser":
            step.add_argument(
                "--motif-refus", dest="motif", required=True, choices=REFERRAL_REASONS, help=reasons
            )
        if name == "echec":
            step.add_argument(
                "--motif-echec", dest="motif", required=True, choices=REFERRAL_REASONS, help=reasons
            )
        if name == "terminer":
            step.add_argument(
                "--issue",
                required=True,
                choices=REFERRAL_OUTCOMES,
                help="issue : " + _codes(REFERRAL_OUTCOMES, render.REFERRAL_OUTCOMES),
            )
        step.add_argument(
            "--commentaire", default="", metavar="TEXTE", help="précision (obligatoire avec « other »)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The parser; build it under i18n.french_argparse() for argparse's own texts in French."""
    parser = argparse.ArgumentParser(
        prog="entraide",
        description="Entraide : dossiers, orientations, bilans.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--json", action="store_true", help="sortie JSON (pour les scripts)")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDES",
        help="délai maximal d'un appel, en secondes (30 par défaut)",
    )
    group = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE", title="commandes")
    _add_dossier_commands(group)
    _add_step_commands(group)
    _add_person_commands(group)
    _add_figure_commands(group)
    _add_referral_commands(group)
    _add_partner_commands(group)
    importing.add_arguments(_command(group, "import", "importer", importing.HELP, importing.import_dossiers))
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Arguments, with argparse's messages (usage, help, errors) in French."""
    with i18n.french_argparse():
        return build_parser().parse_args(argv)


INT64 = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)


def _numbers(message: Message, data: dict[str, Any]) -> dict[str, Any]:
    """MessageToDict writes 64-bit integers as strings (JSON's doubles cannot hold them
    all); counts are numbers for scripts: turn them back, in nested messages and maps too."""
    for fd in message.DESCRIPTOR.fields:
        if fd.name not in data:
            continue
        value = data[fd.name]
        entry = fd.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_fd = entry.fields_by_name["value"]
            if value_fd.cpp_type in INT64:
                data[fd.name] = {k: int(v) for k, v in value.items()}
            elif value_fd.message_type is not None and not _well_known(value_fd.message_type):
                mapping = getattr(message, fd.name)
                for key in value:
                    _numbers(mapping[_map_key(entry, key)], value[key])
        elif entry is not None:
            if _well_known(entry):
                continue
            if fd.is_repeated:
                for item, item_data in zip(getattr(message, fd.name), value, strict=True):
                    _numbers(item, item_data)
            else:
                _numbers(getattr(message, fd.name), value)
        elif fd.cpp_type in INT64:
            data[fd.name] = [int(v) for v in value] if fd.is_repeated else int(value)
    return data


def _well_known(descriptor: Any) -> bool:
    """Timestamp, Duration, Struct… have their own JSON forms (strings, objects)."""
    return str(descriptor.full_name).startswith("google.protobuf.")


def _map_key(entry: Any, key: str) -> Any:
    """A JSON object key back to the map's key type."""
    key_type = entry.fields_by_name["key"].cpp_type
    if key_type == FieldDescriptor.CPPTYPE_BOOL:
        return key == "true"
    if key_type == FieldDescriptor.CPPTYPE_STRING:
        return key
    return int(key)


def as_json(message: Message) -> str:
    data = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return json.dumps(_numbers(message, data), ensure_ascii=False, indent=2)


def environment() -> dict[str, str]:
    """The process environment, completed by the local stack's `stack.env` (written by
    `make up`: service addresses and the demo agent's token) for what it does not set."""
    state = Path(os.environ.get("ENTRAIDE_STATE_DIR", ".state"))
    defaults: dict[str, str] = {}
    stack_env = state / "stack.env"
    if stack_env.is_file():
        for line in stack_env.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key and value:
                defaults[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    return {**defaults, **os.environ}


def _failed(failure: errors.Failure, as_json_output: bool) -> int:
    if as_json_output:
        print(json.dumps(failure.as_json(), ensure_ascii=False))
    else:
        print(failure.as_text(), file=sys.stderr)
    return failure.exit_code


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    render.use_reference(env)
    settings = Settings.from_env(env)
    command: Command = args.run
    try:
        result = command(args, settings)
    except grpc.RpcError as exc:
        return _failed(
            errors.from_rpc_error(exc, commands.CALLED.service, commands.CALLED.address), args.json
        )
    except OSError as exc:  # an export that cannot be written, a certificate that cannot be read
        return _failed(errors.from_os_error(exc), args.json)
    if getattr(args, "print_id", False) and isinstance(result, intake_pb2.OpenDossierResponse):
        print(result.dossier.dossier_id)
    elif args.json:
        print(as_json(result))
    else:
        print(f"{args.done}.\n{render_text(result)}" if args.done else render_text(result))
    sys.stdout.flush()  # a closed pipe shows here, not at exit
    # A command may end with 1 after printing its answer (import: rows were rejected).
    exit_status: Callable[[Message], int] = getattr(args, "exit_status", lambda _result: 0)
    return exit_status(result)


def _quiet_stdout() -> None:
    """After a closed pipe: nothing more reaches stdout, not even the final flush."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """`entraide`: 0 done, 1 refused by a service, 2 usage error, 3 a service does not answer."""
    try:
        return run(argv)
    except BrokenPipeError:
        # `entraide … | head`: the reader has what it wanted.
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        print("Interrompu.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
