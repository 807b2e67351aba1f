"""Who may call each DocumentService method: the case roles file documents (reception
takes them at the desk); only the social workers and responsables read them back or
delete them. Every read of a document's bytes is in the access log."""

from __future__ import annotations

from kernel.access import Rule, field_resources, rule
from services.intake.access import CASE, FOLLOWING
from services.intake.access import RULES as INTAKE_RULES

document = field_resources("document", "document_id", "response.document_id", "response.document.document_id")

RULES: dict[str, Rule] = {
    "UploadDocument": rule(
        *CASE,
        access="write",
        resources=field_resources("document", "response.document_id"),
        purpose="pièces justificatives",
        action="déposer une pièce justificative",
    ),
    "ListDocuments": rule(
        *FOLLOWING,
        access="read",
        resources=field_resources("document", "response.documents.document_id"),
        purpose="pièces justificatives",
        action="consulter la liste des pièces",
    ),
    "GetDocumentContent": rule(
        *FOLLOWING,
        access="read",
        resources=document,
        purpose="pièces justificatives",
        action="lire une pièce justificative",
    ),
    "DeleteDocument": rule(
        *FOLLOWING,
        access="write",
        resources=document,
        purpose="pièces justificatives",
        action="supprimer une pièce justificative",
    ),
}

assert not set(RULES) & set(INTAKE_RULES), sorted(set(RULES) & set(INTAKE_RULES))
