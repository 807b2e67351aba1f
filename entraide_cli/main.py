"""`entraide`: open dossiers and read figures from a terminal.

Addresses come from ENTRAIDE_<SERVICE>_ADDR (written by `make up` into
.state/stack.env) or default to the local stack's ports. Output is French for
people, or JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from entraide.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    referral_pb2,
    referral_pb2_grpc,
    reporting_pb2,
    reporting_pb2_grpc,
)
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from kernel.settings import Settings

Command = Callable[[argparse.Namespace, Settings], Message]


def _channel(settings: Settings, service: str) -> grpc.Channel:
    from kernel.tls import secure_or_insecure_channel  # TLS when ENTRAIDE_TLS_* say so

    return secure_or_insecure_channel(settings.grpc_address(service), settings.env)


def open_dossier(args: argparse.Namespace, settings: Settings) -> Message:
    stub = intake_pb2_grpc.IntakeServiceStub(_channel(settings, "intake"))
    request = intake_pb2.OpenDossierRequest(
        request_id=args.request_id or str(uuid.uuid4()),
        territory=args.territory,
        site=args.site,
        motifs=args.motif,
        arrival_channel=args.channel,
        urgent=args.urgent,
    )
    response: intake_pb2.OpenDossierResponse = stub.OpenDossier(request, timeout=args.timeout)
    return response


def show_dossier(args: argparse.Namespace, settings: Settings) -> Message:
    stub = intake_pb2_grpc.IntakeServiceStub(_channel(settings, "intake"))
    dossier: intake_pb2.Dossier = stub.GetDossier(
        intake_pb2.GetDossierRequest(dossier_id=args.dossier_id), timeout=args.timeout
    )
    return dossier


def reference_data(args: argparse.Namespace, settings: Settings) -> Message:
    stub = intake_pb2_grpc.IntakeServiceStub(_channel(settings, "intake"))
    data: intake_pb2.ReferenceData = stub.ListReferenceData(
        intake_pb2.ListReferenceDataRequest(), timeout=args.timeout
    )
    return data


def motif_counts(args: argparse.Namespace, settings: Settings) -> Message:
    stub = reporting_pb2_grpc.ReportingServiceStub(_channel(settings, "reporting"))
    counts: reporting_pb2.MotifCounts = stub.GetMotifCounts(
        reporting_pb2.GetMotifCountsRequest(territory=args.territory), timeout=args.timeout
    )
    return counts


def partners(args: argparse.Namespace, settings: Settings) -> Message:
    stub = referral_pb2_grpc.ReferralServiceStub(_channel(settings, "referral"))
    found: referral_pb2.ListPartnersResponse = stub.ListPartners(
        referral_pb2.ListPartnersRequest(motif=args.motif, territory=args.territory), timeout=args.timeout
    )
    return found


def render_text(message: Message) -> str:
    """French text for people."""
    if isinstance(message, intake_pb2.OpenDossierResponse):
        verb = "ouvert" if message.created else "déjà ouvert (même identifiant de demande)"
        return f"Dossier {verb} : {message.dossier.dossier_id}\n" + render_text(message.dossier)
    if isinstance(message, intake_pb2.Dossier):
        return "\n".join(
            [
                f"Dossier      : {message.dossier_id}",
                f"Étape        : {message.stage}",
                f"Commune      : {message.territory}" + (f" (site : {message.site})" if message.site else ""),
                f"Motifs       : {', '.join(message.motifs)}",
                f"Canal        : {message.arrival_channel}",
                f"Urgent       : {'oui' if message.urgent else 'non'}",
                f"Ouvert le    : {message.opened_at.ToDatetime().isoformat(timespec='seconds')} UTC",
            ]
        )
    if isinstance(message, reporting_pb2.MotifCounts):
        lines = [f"Dossiers ouverts : {message.dossiers}", "Par motif :"]
        for item in message.motifs:
            share = 100 * item.count / message.dossiers if message.dossiers else 0
            lines.append(f"  {item.label:<50} {item.count:>6}  ({share:.0f} %)")
        return "\n".join(lines)
    if isinstance(message, referral_pb2.ListPartnersResponse):
        return (
            "\n".join(f"{p.name} ({p.kind}) — motifs : {', '.join(p.motifs)}" for p in message.partners)
            or "Aucun partenaire."
        )
    if isinstance(message, intake_pb2.ReferenceData):
        sections = [
            ("Motifs", message.motifs),
            ("Canaux d'arrivée", message.arrival_channels),
            ("Communes", message.territories),
        ]
        return "\n".join(
            f"{title} :\n" + "\n".join(f"  {i.code:<28} {i.label}" for i in items)
            for title, items in sections
        )
    return str(message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="entraide", description="Entraide : dossiers, orientations, bilans."
    )
    parser.add_argument("--json", action="store_true", help="sortie JSON (pour les scripts)")
    parser.add_argument("--timeout", type=float, default=30.0, help="délai maximal d'un appel, en secondes")
    commands = parser.add_subparsers(dest="command", required=True)

    opening = commands.add_parser("ouvrir", aliases=["open"], help="ouvrir un dossier (accueil)")
    opening.add_argument("--territory", "--commune", required=True, help="code INSEE de la commune")
    opening.add_argument("--motif", action="append", required=True, help="code motif (répétable)")
    opening.add_argument("--channel", "--canal", required=True, help="canal d'arrivée")
    opening.add_argument("--site", default="", help="site d'accueil (antenne)")
    opening.add_argument("--urgent", action="store_true", help="situation urgente")
    opening.add_argument("--request-id", default="", help="identifiant de la demande (idempotence)")
    opening.set_defaults(run=open_dossier)

    showing = commands.add_parser("dossier", aliases=["show"], help="afficher un dossier")
    showing.add_argument("dossier_id")
    showing.set_defaults(run=show_dossier)

    counting = commands.add_parser("chiffres", aliases=["counts"], help="dossiers ouverts par motif")
    counting.add_argument("--territory", "--commune", default="")
    counting.set_defaults(run=motif_counts)

    listing = commands.add_parser("partenaires", aliases=["partners"], help="annuaire des partenaires")
    listing.add_argument("--motif", default="")
    listing.add_argument("--territory", "--commune", default="")
    listing.set_defaults(run=partners)

    ref = commands.add_parser("referentiel", aliases=["reference"], help="motifs, canaux, communes")
    ref.set_defaults(run=reference_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
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
        print(
            json.dumps(
                MessageToDict(
                    result, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                ),
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(render_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
