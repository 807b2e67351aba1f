"""Checks on SearchPersons and CheckPossibleDuplicates requests: what the reception form
and the console send to find a person before creating one.

As for the other person requests, messages never quote what the caller sent for
personal fields (names, phone): only what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from entraide.v1 import intake_pb2

from kernel.errors import InvalidArgument, Violation
from kernel.reference import ReferenceData
from services.intake import persons
from services.intake.people_validation import (
    MAX_NAME_LENGTH,
    _check_territory,
    check_phone,
    check_text,
    has_control_characters,
    label,
    parse_birth_date,
)
from services.intake.validation import capitalised

DEFAULT_SEARCH_PAGE = 20
MAX_SEARCH_PAGE = 50
# Letters or digits a name search needs, once folded (a single letter matches half the file).
MIN_SEARCH_CHARACTERS = 2
# "last first", each at most MAX_NAME_LENGTH.
MAX_SEARCH_NAME_LENGTH = 2 * MAX_NAME_LENGTH + 1


@dataclass(frozen=True)
class PersonSearch:
    # Folded words, each the beginning of a word of the folded "last first" name.
    words: list[str]
    birth_date: date | None
    phone: str | None
    include_merged: bool
    page_size: int


@dataclass(frozen=True)
class DuplicateProbe:
    territory: str
    # persons.name_key of the names, when both are given.
    name_key: str | None
    birth_date: date | None
    phone: str | None


def _search_words(problems: list[Violation], raw: str) -> list[str]:
    text = raw.strip()
    if not text:
        return []
    if len(text) > MAX_SEARCH_NAME_LENGTH:
        problems.append(
            Violation(
                "name",
                f"name is at most {MAX_SEARCH_NAME_LENGTH} characters (got {len(text)})",
                f"Le nom cherché fait au plus {MAX_SEARCH_NAME_LENGTH} caractères (reçu : {len(text)}).",
                "TOO_LONG",
            )
        )
        return []
    if has_control_characters(text):
        problems.append(
            Violation(
                "name",
                "name must not contain control characters (tabs, line breaks...)",
                "Caractères de contrôle refusés dans le nom cherché (tabulations, retours à la ligne…) :"
                " retirez-les.",
                "CONTROL_CHARACTERS",
            )
        )
        return []
    folded = persons.fold(text)
    if len(folded.replace(" ", "")) < MIN_SEARCH_CHARACTERS:
        problems.append(
            Violation(
                "name",
                f"name needs at least {MIN_SEARCH_CHARACTERS} letters or digits",
                f"Indiquez au moins {MIN_SEARCH_CHARACTERS} lettres ou chiffres du nom ou du prénom cherché.",
                "TOO_SHORT",
            )
        )
        return []
    return list(dict.fromkeys(folded.split()))


def person_search(request: intake_pb2.SearchPersonsRequest) -> PersonSearch:
    problems: list[Violation] = []
    words = _search_words(problems, request.name)
    birth_date = parse_birth_date(problems, request.birth_date.strip())
    phone = check_phone(problems, request.phone)
    if not 0 <= request.page_size <= MAX_SEARCH_PAGE:
        problems.append(
            Violation(
                "page_size",
                f"page_size is between 1 and {MAX_SEARCH_PAGE} (0 for {DEFAULT_SEARCH_PAGE})",
                f"Le nombre de personnes par page va de 1 à {MAX_SEARCH_PAGE}"
                f" (0 pour {DEFAULT_SEARCH_PAGE}).",
                "OUT_OF_RANGE",
            )
        )
    if problems:
        raise InvalidArgument.of(problems)
    if not words and birth_date is None and phone is None:
        raise InvalidArgument(
            "give at least one criterion: name, birth_date or phone",
            fr="Indiquez au moins un critère de recherche : le nom, la date de naissance ou le téléphone.",
            reason="FIELD_REQUIRED",
            field="name",
        )
    return PersonSearch(
        words=words,
        birth_date=birth_date,
        phone=phone,
        include_merged=request.include_merged,
        page_size=request.page_size or DEFAULT_SEARCH_PAGE,
    )


def _optional_name(problems: list[Violation], field: str, value: str) -> str | None:
    text = check_text(problems, field, value, MAX_NAME_LENGTH, required=False)
    if text is not None and not any(ch.isalnum() for ch in text):
        problems.append(
            Violation(
                field,
                f"{field} must contain at least one letter",
                f"{capitalised(label(field))} doit contenir au moins une lettre.",
                "INVALID_FORMAT",
            )
        )
        return None
    return text


def duplicate_probe(
    request: intake_pb2.CheckPossibleDuplicatesRequest, reference: ReferenceData
) -> DuplicateProbe:
    """The fields CreatePerson's duplicate rule reads, checked as CreatePerson checks them;
    enough of them for the rule to match anyone (the names and the birth date, or the
    phone), else INVALID_ARGUMENT naming the first field missing."""
    problems: list[Violation] = []
    _check_territory(problems, request.territory, reference)
    first_name = _optional_name(problems, "first_name", request.first_name)
    last_name = _optional_name(problems, "last_name", request.last_name)
    birth_date = parse_birth_date(problems, request.birth_date.strip())
    phone = check_phone(problems, request.phone)
    if problems:
        raise InvalidArgument.of(problems)
    if phone is None and not (first_name and last_name and birth_date):
        missing = next(
            field
            for field, value in (
                ("last_name", last_name),
                ("first_name", first_name),
                ("birth_date", birth_date),
            )
            if not value
        )
        raise InvalidArgument(
            "give the last name, first name and birth date, or the phone: duplicates are found by these",
            fr="Pour chercher des doublons, indiquez le nom, le prénom et la date de naissance,"
            " ou le téléphone.",
            reason="FIELD_REQUIRED",
            field=missing,
        )
    return DuplicateProbe(
        territory=request.territory,
        name_key=persons.name_key(last_name, first_name) if first_name and last_name else None,
        birth_date=birth_date,
        phone=phone,
    )
