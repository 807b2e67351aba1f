"""`entraide`: dossiers, persons and figures from a terminal.

Addresses come from ENTRAIDE_<SERVICE>_ADDR (written by `make up` into
.state/stack.env) or default to the local stack's ports. Output is French for
people, or JSON with --json. This module parses arguments and prints; the gRPC
calls are in commands.py, the French text in render.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from entraide_cli import commands
from entraide_cli.commands import Command
from entraide_cli.render import render_text
from kernel.settings import Settings
from workflows.contracts import REFERRAL_OUTCOMES, REFERRAL_REASONS, REFERRAL_STATUSES

Subparsers = Any  # argparse's _SubParsersAction is private


def _read_notes(path: str) -> str:
    """--notes-file: a UTF-8 text file, or "-" for standard input."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"impossible de lire {path} : {exc}") from None


def _comma_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _common() -> argparse.ArgumentParser:
    """Options every subcommand also accepts after its name (`entraide dossier ID --json`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="sortie JSON")
    return common


def _command(
    group: Subparsers, name: str, alias: str, help_text: str, run: Command, done: str = ""
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(
        name, aliases=[alias], help=help_text, description=help_text, parents=[_common()]
    )
    parser.set_defaults(run=run, done=done)
    return parser


def _step(
    group: Subparsers, name: str, alias: str, help_text: str, run: Command, done: str
) -> argparse.ArgumentParser:
    """A lifecycle step: DOSSIER_ID and the acting agent."""
    parser = _command(group, name, alias, help_text, run, done)
    parser.add_argument("dossier_id", metavar="DOSSIER_ID")
    parser.add_argument("--agent", required=True, help="identifiant de l'agent qui agit")
    return parser


def _notes(parser: argparse.ArgumentParser, *, private: bool = True) -> None:
    notes = parser.add_mutually_exclusive_group()
    notes.add_argument("--notes", default="", metavar="TEXTE", help="notes")
    notes.add_argument(
        "--notes-file",
        dest="notes",
        type=_read_notes,
        help="notes lues dans un fichier (- : entrée standard)",
    )
    if private:
        parser.add_argument("--prive", action="store_true", help="note visible de son seul auteur")


def _add_dossier_commands(group: Subparsers) -> None:
    opening = _command(group, "ouvrir", "open", "ouvrir un dossier (accueil)", commands.open_dossier)
    opening.add_argument("--territory", "--commune", required=True, help="code INSEE de la commune")
    opening.add_argument("--motif", action="append", required=True, help="code motif (répétable)")
    opening.add_argument("--channel", "--canal", required=True, help="canal d'arrivée")
    opening.add_argument("--site", default="", help="site d'accueil (antenne)")
    opening.add_argument("--urgent", action="store_true", help="situation urgente")
    opening.add_argument("--personne", default="", help="identifiant de la personne aidée")
    opening.add_argument("--foyer", default="", help="identifiant de son foyer")
    opening.add_argument("--agent", default="", help="agent à qui le dossier est attribué")
    opening.add_argument("--request-id", default="", help="identifiant de la demande (idempotence)")

    showing = _command(group, "dossier", "show", "afficher un dossier", commands.show_dossier)
    showing.add_argument("dossier_id", metavar="DOSSIER_ID")

    history = _command(
        group,
        "chronologie",
        "timeline",
        "chronologie, entretiens et échéances d'un dossier",
        commands.timeline,
    )
    history.add_argument("dossier_id", metavar="DOSSIER_ID")
    history.add_argument("--agent", default="", help="agent qui lit (ses notes privées sont montrées)")

    listing = _command(
        group, "dossiers", "list", "dossiers d'une commune, récents d'abord", commands.list_dossiers
    )
    listing.add_argument("--territory", "--commune", required=True, help="code INSEE de la commune")
    listing.add_argument("--etape", choices=sorted(commands.STAGE_CODES), default="", help="étape")
    listing.add_argument(
        "--taille", type=int, default=0, help="dossiers par page (50 par défaut, 200 au plus)"
    )
    listing.add_argument("--page", default="", help="page suivante (jeton affiché par la page précédente)")


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
    assign.add_argument("--a", required=True, metavar="AGENT", help="agent à qui attribuer le dossier")

    closing = _step(
        group, "cloturer", "close", "clôturer le dossier", commands.close_dossier, "Dossier clôturé"
    )
    closing.add_argument("--issue", required=True, help="code de l'issue (voir `entraide referentiel`)")
    _notes(closing, private=False)

    reopen = _step(
        group, "rouvrir", "reopen", "rouvrir un dossier clôturé", commands.reopen_dossier, "Dossier rouvert"
    )
    reopen.add_argument("--motif-reouverture", default="", help="pourquoi le dossier est rouvert")


def _add_person_commands(group: Subparsers) -> None:
    person = group.add_parser("personne", aliases=["person"], help="personnes aidées").add_subparsers(
        dest="action", required=True
    )
    create = _command(person, "creer", "create", "enregistrer une personne", commands.create_person)
    create.add_argument("--territory", "--commune", required=True, help="commune du dossier (code INSEE)")
    create.add_argument("--nom", required=True)
    create.add_argument("--prenom", required=True)
    create.add_argument("--naissance", default="", metavar="AAAA-MM-JJ", help="date de naissance")
    create.add_argument("--telephone", default="")
    create.add_argument("--courriel", default="")
    create.add_argument("--commune-residence", default="", help="commune de résidence (code INSEE)")
    create.add_argument("--adresse", default="")
    create.add_argument("--request-id", default="", help="identifiant de la demande (idempotence)")

    show = _command(person, "voir", "show", "afficher une personne", commands.show_person)
    show.add_argument("person_id", metavar="ID")

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
    merge.add_argument("--agent", required=True)

    household = group.add_parser("foyer", aliases=["household"], help="foyers").add_subparsers(
        dest="action", required=True
    )
    create = _command(household, "creer", "create", "créer un foyer", commands.create_household, "Foyer créé")
    create.add_argument("--territory", "--commune", required=True, help="code INSEE de la commune")
    create.add_argument("--membre", action="append", required=True, metavar="ID", help="membre (répétable)")

    consent = group.add_parser(
        "consentement", aliases=["consent"], help="consentements au partage"
    ).add_subparsers(dest="action", required=True)
    record = _command(
        consent,
        "enregistrer",
        "record",
        "enregistrer un consentement ou une base légale",
        commands.record_consent,
        "Consentement enregistré",
    )
    record.add_argument("--personne", required=True, metavar="ID")
    record.add_argument("--partenaire", required=True, help="identifiant du partenaire")
    record.add_argument(
        "--donnees",
        action="extend",
        type=_comma_list,
        required=True,
        help="données partagées : identite,contact,motif",
    )
    record.add_argument("--dossier", default="", metavar="ID")
    record.add_argument("--type", choices=sorted(commands.CONSENT_KINDS), required=True)
    record.add_argument("--canal", choices=sorted(commands.CONSENT_CHANNELS), default="")
    record.add_argument("--base-legale", default="", help="fondement légal (pour --type base_legale)")
    record.add_argument("--agent", required=True)

    listing = _command(consent, "lister", "list", "consentements d'une personne", commands.list_consents)
    listing.add_argument("--personne", required=True, metavar="ID")


def _add_figure_commands(group: Subparsers) -> None:
    counting = _command(group, "chiffres", "counts", "dossiers ouverts par motif", commands.motif_counts)
    counting.add_argument("--territory", "--commune", default="")

    listing = _command(group, "partenaires", "partners", "annuaire des partenaires", commands.partners)
    listing.add_argument("--motif", default="")
    listing.add_argument("--territory", "--commune", default="")

    _command(group, "referentiel", "reference", "motifs, canaux, communes, issues", commands.reference_data)

    report = _command(group, "bilan", "report", "bilan d'activité d'une période", commands.bilan)
    report.add_argument("--du", required=True, metavar="AAAA-MM-JJ", help="premier jour (inclus)")
    report.add_argument("--au", required=True, metavar="AAAA-MM-JJ", help="dernier jour (exclu)")
    report.add_argument("--commune", action="append", default=[], help="code INSEE (répétable)")
    report.add_argument("--format", choices=["csv", "html"], default="", help="exporter en CSV ou HTML")
    report.add_argument("--sortie", default="", metavar="FICHIER", help="fichier de l'export")

    ops = _command(
        group, "ops", "ops", "exploitation : étapes, retards, dossiers bloqués, files", commands.ops_overview
    )
    ops.add_argument("--commune", action="append", default=[], help="code INSEE (répétable)")
    ops.add_argument("--jours", type=int, default=30, help="sans avancée depuis N jours")
    ops.add_argument("--limite", type=int, default=50, help="dossiers listés au plus")


def _add_referral_commands(group: Subparsers) -> None:
    refer = _command(
        group, "orienter", "refer", "orienter la personne vers un partenaire", commands.create_referral
    )
    refer.add_argument("dossier_id", metavar="DOSSIER_ID")
    refer.add_argument("--partenaire", required=True, help="identifiant du partenaire (voir `suggestions`)")
    refer.add_argument("--motif", required=True, help="motif de l'orientation (un des motifs du dossier)")
    refer.add_argument(
        "--message", default="", metavar="TEXTE", help="ce que le partenaire doit savoir (jamais les notes)"
    )
    refer.add_argument(
        "--donnees",
        action="extend",
        type=_comma_list,
        default=[],
        help="données transmises en plus du motif : identite,contact (le consentement doit les couvrir)",
    )
    refer.add_argument("--agent", default="", help="agent qui oriente (vous, par défaut)")
    refer.add_argument("--request-id", default="", help="identifiant de la demande (idempotence)")

    cancel = _command(
        group,
        "annuler-orientation",
        "cancel-referral",
        "annuler une orientation",
        commands.cancel_referral,
        "Orientation annulée",
    )
    cancel.add_argument("referral_id", metavar="ORIENTATION_ID")
    cancel.add_argument("--motif-annulation", default="", help="pourquoi l'orientation est annulée")
    cancel.add_argument("--agent", default="", help="agent qui annule (vous, par défaut)")

    listing = _command(
        group, "orientations", "referrals", "orientations d'un dossier", commands.dossier_referrals
    )
    listing.add_argument("dossier_id", metavar="DOSSIER_ID")

    suggest = _command(
        group,
        "suggestions",
        "suggest",
        "partenaires servant les motifs du dossier dans sa commune, prochaine permanence",
        commands.suggest_partners,
    )
    suggest.add_argument("dossier_id", metavar="DOSSIER_ID")


def _add_partner_commands(group: Subparsers) -> None:
    """The partner side: the token (ENTRAIDE_TOKEN) names the partner."""
    partner = group.add_parser(
        "partenaire", aliases=["partner"], help="côté partenaire : ses orientations et ses réponses"
    ).add_subparsers(dest="action", required=True)
    mine = _command(partner, "orientations", "referrals", "orientations reçues", commands.my_referrals)
    mine.add_argument(
        "--statut",
        choices=sorted([*commands.REFERRAL_STATUS_CODES, *REFERRAL_STATUSES]),
        default="",
        help="seulement les orientations dans ce statut",
    )
    show = _command(partner, "voir", "show", "afficher une orientation", commands.show_referral)
    show.add_argument("referral_id", metavar="ORIENTATION_ID")

    reasons = ", ".join(REFERRAL_REASONS)
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
        step.add_argument("referral_id", metavar="ORIENTATION_ID")
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
                "--issue", required=True, choices=REFERRAL_OUTCOMES, help=", ".join(REFERRAL_OUTCOMES)
            )
        step.add_argument("--commentaire", default="", help="précision (obligatoire avec « other »)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="entraide", description="Entraide : dossiers, orientations, bilans."
    )
    parser.add_argument("--json", action="store_true", help="sortie JSON (pour les scripts)")
    parser.add_argument("--timeout", type=float, default=30.0, help="délai maximal d'un appel, en secondes")
    group = parser.add_subparsers(dest="command", required=True)
    _add_dossier_commands(group)
    _add_step_commands(group)
    _add_person_commands(group)
    _add_figure_commands(group)
    _add_referral_commands(group)
    _add_partner_commands(group)
    return parser


def _as_json(message: Message) -> str:
    data = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return json.dumps(data, ensure_ascii=False, indent=2)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env(environment())
    run: Command = args.run
    try:
        result = run(args, settings)
    except grpc.RpcError as exc:
        status: Any = exc
        detail = {"code": status.code().name, "message": status.details()}
        if args.json:
            print(json.dumps({"error": detail}, ensure_ascii=False))
        else:
            print(f"Erreur ({detail['code']}) : {detail['message']}", file=sys.stderr)
        return 1
    if args.json:
        print(_as_json(result))
    else:
        print(f"{args.done}.\n{render_text(result)}" if args.done else render_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
