"""The vocabulary of an imported file (ImportDossiers, docs/import.md): the formats, its
fields' codes (the API's), the template's French headers and what each one holds; shared
by intake, which checks the rows, and the front ends, which send files. Pure: no I/O."""

from __future__ import annotations

from enum import StrEnum

FORMATS = ("csv", "xlsx")
# The file's name is kept in the import's record (and the access log).
MAX_FILENAME_LENGTH = 255


class ImportField(StrEnum):
    # The dossier
    REFERENCE = "reference"
    OPENED_AT = "opened_at"
    TERRITORY = "territory"
    MOTIFS = "motifs"
    ARRIVAL_CHANNEL = "arrival_channel"
    URGENT = "urgent"
    SITE = "site"
    ASSIGNED_AGENT = "assigned_agent"
    ECOUTE_AT = "ecoute_at"
    ORIENTATION_AT = "orientation_at"
    SUIVI_AT = "suivi_at"
    CLOSED_AT = "closed_at"
    OUTCOME = "outcome"
    # The person
    PERSON_REFERENCE = "person_reference"
    LAST_NAME = "last_name"
    FIRST_NAME = "first_name"
    BIRTH_DATE = "birth_date"
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS_COMMUNE = "address_commune"
    ADDRESS_LINE = "address_line"
    # The household
    HOUSEHOLD_REFERENCE = "household_reference"


F = ImportField
# The template's header of each field (docs/import.md), in the template's column order.
TEMPLATE_HEADERS: dict[ImportField, str] = {
    F.REFERENCE: "numero_dossier",
    F.OPENED_AT: "date_ouverture",
    F.TERRITORY: "commune",
    F.MOTIFS: "motifs",
    F.ARRIVAL_CHANNEL: "canal",
    F.URGENT: "urgent",
    F.SITE: "site",
    F.ASSIGNED_AGENT: "agent",
    F.ECOUTE_AT: "date_ecoute",
    F.ORIENTATION_AT: "date_orientation",
    F.SUIVI_AT: "date_suivi",
    F.CLOSED_AT: "date_cloture",
    F.OUTCOME: "issue",
    F.PERSON_REFERENCE: "numero_personne",
    F.LAST_NAME: "nom",
    F.FIRST_NAME: "prenom",
    F.BIRTH_DATE: "date_naissance",
    F.PHONE: "telephone",
    F.EMAIL: "courriel",
    F.ADDRESS_COMMUNE: "commune_residence",
    F.ADDRESS_LINE: "adresse",
    F.HOUSEHOLD_REFERENCE: "numero_foyer",
}

# What each field holds, as a responsable reads it (ListReferenceData, the console).
FIELD_LABELS: dict[ImportField, str] = {
    F.REFERENCE: "Numéro du dossier dans l'ancien fichier (recommandé : rend la reprise sûre)",
    F.OPENED_AT: "Date d'ouverture du dossier (obligatoire)",
    F.TERRITORY: "Commune du dossier : code INSEE ou nom (obligatoire)",
    F.MOTIFS: "Motifs, séparés par « ; » : codes ou libellés (obligatoire)",
    F.ARRIVAL_CHANNEL: "Canal d'arrivée : code ou libellé (obligatoire, ou une valeur par défaut)",
    F.URGENT: "Situation urgente : oui ou non",
    F.SITE: "Lieu d'accueil : code ou libellé d'un site de la commune du dossier",
    F.ASSIGNED_AGENT: "Agent chargé du dossier (identifiant)",
    F.ECOUTE_AT: "Date du début de l'écoute",
    F.ORIENTATION_AT: "Date de l'orientation",
    F.SUIVI_AT: "Date du début du suivi",
    F.CLOSED_AT: "Date de clôture",
    F.OUTCOME: "Issue de la clôture : code ou libellé (avec la date de clôture)",
    F.PERSON_REFERENCE: "Numéro de la personne dans l'ancien fichier",
    F.LAST_NAME: "Nom de la personne",
    F.FIRST_NAME: "Prénom de la personne",
    F.BIRTH_DATE: "Date de naissance",
    F.PHONE: "Téléphone",
    F.EMAIL: "Adresse électronique",
    F.ADDRESS_COMMUNE: "Commune de résidence : code INSEE ou nom",
    F.ADDRESS_LINE: "Adresse",
    F.HOUSEHOLD_REFERENCE: "Numéro du foyer : les lignes qui le partagent forment un foyer",
}

# A row without these (or their default) is rejected.
REQUIRED: frozenset[ImportField] = frozenset({F.OPENED_AT, F.TERRITORY, F.MOTIFS, F.ARRIVAL_CHANNEL})
# Fields whose values are codes of the reference data (mappable with ImportValue).
CODED: frozenset[ImportField] = frozenset(
    {F.TERRITORY, F.MOTIFS, F.ARRIVAL_CHANNEL, F.OUTCOME, F.URGENT, F.ADDRESS_COMMUNE, F.SITE}
)
DATES: frozenset[ImportField] = frozenset(
    {F.OPENED_AT, F.ECOUTE_AT, F.ORIENTATION_AT, F.SUIVI_AT, F.CLOSED_AT, F.BIRTH_DATE}
)
PERSON_FIELDS: frozenset[ImportField] = frozenset(
    {
        F.PERSON_REFERENCE,
        F.LAST_NAME,
        F.FIRST_NAME,
        F.BIRTH_DATE,
        F.PHONE,
        F.EMAIL,
        F.ADDRESS_COMMUNE,
        F.ADDRESS_LINE,
    }
)
# Separators of several motifs in one cell: ";" and "|" always; "," then "/" only inside
# a part that is not a label on its own ("Logement / hébergement", "Famille (conflits,
# séparation, violences)" are one motif each).
MOTIF_SEPARATORS = (";", "|")
MOTIF_SOFT_SEPARATORS = (",", "/")
# Values of `urgent`, folded (case and accents ignored).
TRUE_WORDS = frozenset({"oui", "o", "x", "1", "vrai", "true", "yes", "urgent"})
FALSE_WORDS = frozenset({"non", "n", "0", "faux", "false", "no", ""})
