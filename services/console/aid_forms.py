"""What the pages of the CCAS's aid share: who reads them, euros typed in forms
(domain.money), the aid service's refusals renamed to the forms' inputs, a request read
by the id in its path.

The rules (ceilings, the budget line, who decides, the statuses) stay in the aid
service: these helpers only translate between a form and the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
from entraide.v1 import aides_pb2

from domain.money import parse_euros
from kernel import rich_status
from kernel.auth import Role
from services.console import web
from services.console.web import FormErrors, Page

# Who works on aid requests (instruction, commission): the service decides in the end.
AID_READERS = frozenset({Role.TRAVAILLEUR_SOCIAL, Role.RESPONSABLE})
# Urgent decisions, overrides, budget lines and payments recorded.
AID_DECIDERS = frozenset({Role.RESPONSABLE})
NOT_ALLOWED = "Les aides du CCAS sont suivies par les travailleurs sociaux et les responsables."
NOT_RESPONSABLE = "Seul un responsable crée une ligne budgétaire ou enregistre un paiement."
UNREADABLE_AMOUNT = "Montant illisible : saisissez un montant en euros, par exemple « 250 » ou « 250,50 »."
UNREADABLE_NUMBER = "Nombre illisible : saisissez un nombre entier, par exemple « 2 »."
UNREADABLE_RATE = "Taux illisible : saisissez un pourcentage, par exemple « 4,5 »."


class Typed:
    """The numbers of a form as typed (euros, counts, rates), and the sentence of each
    one that cannot be read; the others go to the service, which checks them."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def cents(self, name: str, text: str) -> int:
        """Cents of an amount typed in euros; empty: 0 (the service says if it is needed)."""
        if not text:
            return 0
        cents = parse_euros(text)
        if cents is None:
            self.errors[name] = UNREADABLE_AMOUNT
            return 0
        return cents

    def count(self, name: str, text: str, default: int = 0) -> int:
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            self.errors[name] = UNREADABLE_NUMBER
            return default

    def rate_bp(self, name: str, text: str) -> int:
        """An annual rate typed in percent (« 4,5 », « 4.50 % ») in basis points (450)."""
        if not text:
            return 0
        hundredths = parse_euros(text.strip().removesuffix("%").strip())
        if hundredths is None:
            self.errors[name] = UNREADABLE_RATE
            return 0
        return hundredths

    def refusal(self) -> FormErrors | None:
        if not self.errors:
            return None
        return FormErrors("Le formulaire contient des montants ou des nombres illisibles", dict(self.errors))


def aid_errors(
    error: grpc.RpcError, inputs: Iterable[str], rename: Mapping[str, str] | None = None
) -> FormErrors:
    """The service's sentence and one per field, named as the form names its inputs:
    `budget.resources_cents` is the input `resources` (the last part of the path, without
    its `_cents`), unless `rename` says otherwise; a field the form has no input for is
    said in the summary."""
    described = rich_status.describe(error)
    known = set(inputs)
    rename = rename or {}
    errors = FormErrors(described.fr)
    for violation in described.violations:
        path = violation.field.split("[")[0]
        flat = path.replace(".", "_")
        last = path.split(".")[-1]
        for candidate in (flat, last, flat.removesuffix("_cents"), last.removesuffix("_cents")):
            name = rename.get(candidate, candidate)
            if name in known:
                errors.fields.setdefault(name, violation.fr)
                break
        else:
            errors.fields.setdefault(flat or "formulaire", violation.fr)
    return errors


def is_refusal(error: grpc.RpcError) -> bool:
    return web.code_of(error) in web.FORM_CODES


async def get_request(page: Page, aid_request_id: str) -> aides_pb2.AidRequest:
    request: aides_pb2.AidRequest = await web.read_by_path_id(
        page.calls.aides.GetAidRequest(aides_pb2.GetAidRequestRequest(aid_request_id=aid_request_id))
    )
    return request


async def aid_types(page: Page) -> list[aides_pb2.AidType]:
    reply = await page.calls.aides.ListAidTypes(aides_pb2.ListAidTypesRequest())
    return list(reply.aid_types)


def euros_value(cents: int) -> str:
    """An amount as a form shows it again for editing: « 250,50 » (no thousands space)."""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}{whole},{part:02d}"
