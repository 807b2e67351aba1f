"""What the `entraide` command says when a call fails: the servers' French sentence
and fields at fault (the gRPC rich error model, kernel.rich_status), or, when no
service answered at all, which one and where.

Exit codes: 1 the service refused (or failed), 2 a usage error (argparse), 3 the
service could not be reached.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

import grpc

from kernel import rich_status

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
UNREACHABLE = "SERVICE_UNREACHABLE"

# Request fields (proto names) → what a person calls them. Unknown paths are shown as is.
FIELD_LABELS = {
    "motifs": "motifs",
    "motif": "motif",
    "territory": "commune",
    "territories": "communes",
    "arrival_channel": "canal",
    "site": "site",
    "person_id": "personne",
    "household_id": "foyer",
    "assigned_agent": "agent attribué",
    "assignee": "agent attribué",
    "agent": "agent",
    "dossier_id": "dossier",
    "request_id": "identifiant de demande",
    "notes": "notes",
    "visibility": "visibilité",
    "outcome": "issue",
    "reason": "motif",
    "next_stage": "étape suivante",
    "stage": "étape",
    "page_size": "taille",
    "page_token": "page",
    "first_name": "prénom",
    "last_name": "nom",
    "birth_date": "naissance",
    "phone": "téléphone",
    "email": "courriel",
    "address_commune": "commune de résidence",
    "address_line": "adresse",
    "keep_id": "personne conservée",
    "duplicate_id": "doublon",
    "member_ids": "membres",
    "partner_id": "partenaire",
    "data_scope": "données",
    "kind": "type",
    "channel": "canal",
    "legal_basis": "base légale",
    "referral_id": "orientation",
    "message_for_partner": "message",
    "comment": "commentaire",
    "status": "statut",
    "from": "du",
    "to": "au",
    "format": "format",
    "stuck_after_days": "jours",
    "limit": "limite",
    "content": "fichier",
    "filename": "nom du fichier",
    "columns": "--colonne",
    "values": "--valeur",
    "defaults": "--defaut",
}


@dataclass(frozen=True)
class Failure:
    """A failed call as the command reports it."""

    code: str
    reason: str
    message: str
    fr: str
    fields: list[dict[str, str]] = field(default_factory=list)
    exit_code: int = EXIT_REFUSED
    service: str = ""
    address: str = ""

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "fr": self.fr,
            "fields": self.fields,
        }
        if self.service:
            error["service"], error["address"] = self.service, self.address
        return {"error": error}

    def as_text(self) -> str:
        """« Erreur : <phrase> [REASON] », then one line per field at fault."""
        lines = [f"Erreur : {self.fr}" + (f" [{self.reason}]" if self.reason else "")]
        for problem in self.fields:
            lines.append(f"  – {field_label(problem['field'])} : {problem['fr']}")
        return "\n".join(lines)


def field_label(path: str) -> str:
    """`motifs[1]` → `motifs[1]`, `arrival_channel` → `canal`, `$.organizations[0]` as is."""
    head, bracket, rest = path.partition("[")
    name = FIELD_LABELS.get(head)
    return name + bracket + rest if name else path


def from_rpc_error(exc: grpc.RpcError, service: str, address: str) -> Failure:
    described = rich_status.describe(exc)
    code = described.code.name
    if described.code == grpc.StatusCode.UNAVAILABLE and not described.reason:
        # No status from a server: nothing answered (refused, DNS, TLS handshake).
        return Failure(
            code=code,
            reason=UNREACHABLE,
            message=described.message,
            fr=unreachable_sentence(service, address, described.message),
            exit_code=EXIT_UNREACHABLE,
            service=service,
            address=address,
        )
    # describe() falls back to the English message when a server sent no French
    # sentence (a server not converted yet): say it in French by code instead.
    english = not described.fr or described.fr == described.message
    return Failure(
        code=code,
        reason=described.reason or code,
        message=described.message,
        fr=generic_sentence(described.code) if english else described.fr,
        fields=[
            {
                "field": v.field,
                "reason": v.reason,
                "description": v.description,
                "fr": "valeur refusée" if not v.fr or v.fr == v.description else v.fr,
            }
            for v in described.violations
        ],
    )


GENERIC_FR = {
    grpc.StatusCode.INVALID_ARGUMENT: "La demande est invalide.",
    grpc.StatusCode.NOT_FOUND: "Introuvable : vérifiez l'identifiant.",
    grpc.StatusCode.FAILED_PRECONDITION: "Cette opération n'est pas possible dans l'état actuel.",
    grpc.StatusCode.ALREADY_EXISTS: "Cet élément existe déjà.",
    grpc.StatusCode.ABORTED: "L'opération a été interrompue par une autre : réessayez.",
    grpc.StatusCode.OUT_OF_RANGE: "Une valeur sort des limites permises.",
    grpc.StatusCode.DATA_LOSS: "Des données sont perdues ou illisibles : prévenez les exploitants.",
}


def generic_sentence(code: grpc.StatusCode) -> str:
    return GENERIC_FR.get(code) or rich_status.GENERIC_FR.get(code) or "Le service a refusé la demande."


def unreachable_sentence(service: str, address: str, detail: str) -> str:
    where = f"Le service {service} ({address})" if service else "Le service"
    lowered = detail.lower()
    if "handshake" in lowered or "ssl" in lowered or "tls" in lowered:
        return (
            f"{where} refuse la connexion chiffrée : vérifiez ENTRAIDE_TLS_CA_FILE "
            "et, en TLS mutuel, ENTRAIDE_TLS_CLIENT_CERT_FILE / ENTRAIDE_TLS_CLIENT_KEY_FILE."
        )
    if "dns" in lowered or "resolve" in lowered:
        return f"{where} est introuvable : vérifiez l'adresse (ENTRAIDE_{service.upper()}_ADDR)."
    return f"{where} ne répond pas. La pile Entraide est-elle démarrée ? Lancez `make up`."


OS_ERRORS = {
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération interdite",
    errno.EISDIR: "c'est un dossier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.EEXIST: "le fichier existe déjà",
}


def from_os_error(exc: OSError) -> Failure:
    """A file the command could not read or write (an export, a certificate)."""
    why = OS_ERRORS.get(exc.errno or 0, exc.strerror or "erreur du système")
    target = f" « {exc.filename} »" if exc.filename else ""
    return Failure(
        code="OS_ERROR",
        reason=errno.errorcode.get(exc.errno or 0, "OS_ERROR"),
        message=str(exc),
        fr=f"Impossible d'accéder au fichier{target} : {why}.",
    )
