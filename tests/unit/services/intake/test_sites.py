"""A dossier's site against the reference data, without servers: OpenDossier's check and
the label a dossier is read with."""

from __future__ import annotations

import pytest
from entraide.v1 import intake_pb2

from kernel import reference
from kernel.errors import InvalidArgument
from services.intake import validation
from services.intake.legacy_sites import site_label
from workflows.contracts import LifecycleTimers

REFERENCE = reference.load({})


def spec(territory: str, site: str) -> str:
    request = intake_pb2.OpenDossierRequest(
        request_id="r-1", territory=territory, site=site, motifs=["logement"], arrival_channel="telephone"
    )
    return validation.open_dossier_spec(request, REFERENCE, LifecycleTimers()).site


def test_a_site_of_the_commune_or_none_is_accepted() -> None:
    assert spec("55029", "ccas-bar-le-duc") == "ccas-bar-le-duc"
    assert spec("55029", "antenne-cote-sainte-catherine") == "antenne-cote-sainte-catherine"
    assert spec("21231", "maison-solidarite-dijon") == "maison-solidarite-dijon"
    assert spec("55519", "") == ""


@pytest.mark.parametrize(
    ("territory", "site", "reason"),
    [
        ("55029", "Antenne sociale centre", "UNKNOWN_SITE"),
        ("55029", "CIAS du Pays Barrois – accueil", "UNKNOWN_SITE"),  # a label is not a code
        ("55029", " ccas-bar-le-duc", "UNKNOWN_SITE"),
        ("55029", "ancien-0123456789", "UNKNOWN_SITE"),  # a legacy code is no site to open with
        ("55029", "mairie-ligny", "SITE_NOT_IN_COMMUNE"),
        ("55519", "ccas-bar-le-duc", "SITE_NOT_IN_COMMUNE"),
    ],
)
def test_another_site_is_refused_naming_the_field_and_the_communes_sites(
    territory: str, site: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        spec(territory, site)
    [violation] = refused.value.violations
    assert (violation.field, violation.reason) == ("site", reason)
    own = [s.code for s in REFERENCE.sites_of([territory])]
    assert all(f"« {code} »" in violation.fr for code in own)
    if not own:
        assert "n'a aucun site déclaré" in violation.fr


def test_an_unknown_commune_is_said_once() -> None:
    with pytest.raises(InvalidArgument) as refused:
        spec("99999", "ccas-bar-le-duc")
    assert [v.field for v in refused.value.violations] == ["territory"]


def test_the_label_a_dossier_is_read_with() -> None:
    sites = REFERENCE.sites
    assert site_label("mairie-ligny", None, sites) == "Mairie de Ligny-en-Barrois – permanence sociale"
    assert site_label("ancien-0123456789", "Antenne sociale centre", sites) == "Antenne sociale centre"
    assert site_label("retire-du-referentiel", None, sites) == "retire-du-referentiel"
    assert site_label("", None, sites) == ""
