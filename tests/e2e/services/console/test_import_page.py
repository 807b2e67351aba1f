"""The import page on the real stack: a responsable checks a small file (the rejected
line and « Simulation » in the report, nothing written), imports it (dossiers created,
a person already known linked to their page), imports it again (nothing new); the
column mapping and the default channel; a file missing, of another kind or too big is a
French message on the form; a social worker has no link and is refused; the page and
its report in Chromium checked with axe-core."""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2 as httpx
from entraide.v1 import intake_pb2

from kernel.hard_input import MAX_MESSAGE_BYTES
from tests.e2e.services.console import browser
from tests.e2e.services.console.conftest import AGENTS, Console
from tests.e2e.services.console.helpers import create_person, csrf_of, form_tokens
from tests.e2e.services.console.helpers import intake as intake  # the fixture: intake as a responsable
from tests.e2e.services.console.test_browser_journey import sign_in

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

HEADER = "numero_dossier;date_ouverture;commune;motifs;canal;date_cloture;issue;nom;prenom;date_naissance"
TIMEOUT_MS = 20_000


def text_of(reply: httpx.Response) -> str:
    return html.unescape(reply.text)


def csv_content(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def sample(tag: str) -> bytes:
    """Three rows: a closed dossier, an open one for a person already known (Durand, as
    created by the test), and one opened on a day that does not exist (line 4)."""
    return csv_content(
        f"{tag}-1;03/02/2024;55029;logement;visite_spontanee;20/03/2024;regle;"
        f"Lefèvre {tag};Éloïse;12/05/1980",
        f"{tag}-2;11/06/2024;55029;emploi;telephone;;;Durand {tag};Jean;02/04/1975",
        f"{tag}-3;31/02/2024;55029;emploi;telephone;;;;;",
    )


def post_file(
    http: httpx.Client, content: bytes, action: str, filename: str = "ancien.csv", **fields: str
) -> httpx.Response:
    csrf, request_id = form_tokens(http, "/import")
    data = {"csrf_token": csrf, "request_id": request_id, "action": action, **fields}
    return http.post("/import", data=data, files={"fichier": (filename, content, "text/csv")}, timeout=130)


def figure(page: str, label: str) -> str:
    """A figure of the report's summary table."""
    found = re.search(rf'<th scope="row">{re.escape(label)}</th><td>([^<]*)</td>', page)
    assert found, f"no {label!r} in the report"
    return found.group(1)


async def test_a_responsable_checks_then_imports_a_file(
    signed_in: dict[str, httpx.Client], intake: Stub
) -> None:
    resp = signed_in["responsable"]
    tag = uuid.uuid4().hex[:8]
    durand = await create_person(
        intake, first_name="Jean", last_name=f"Durand {tag}", birth_date="1975-04-02"
    )
    assert 'href="/import"' in resp.get("/mes-dossiers").text
    form = text_of(resp.get("/import"))
    assert 'enctype="multipart/form-data"' in form and 'accept=".csv,.xlsx"' in form
    assert "<summary>Correspondance des colonnes</summary>" in form
    assert (
        "Date d'ouverture du dossier (obligatoire)" in form and "En-tête du modèle : date_ouverture" in form
    )
    assert '<option value="visite_spontanee">' in form

    checked = post_file(resp, sample(tag), "verifier")
    assert checked.status_code == 200, checked.text
    page = text_of(checked)
    assert "Simulation : rien n'a été enregistré." in page
    assert (
        figure(page, "Lignes lues"),
        figure(page, "Lignes rejetées"),
        figure(page, "Dossiers à créer"),
    ) == (
        "3",
        "1",
        "2",
    )
    assert re.search(r'<th scope="row">4</th>\s*<td>date_ouverture</td>\s*<td>La date', page), page
    found = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=f"Lefèvre {tag}"), timeout=10)
    assert list(found.persons) == []  # the check wrote nothing

    imported = post_file(resp, sample(tag), "importer")
    assert imported.status_code == 200, imported.text
    page = text_of(imported)
    assert (
        "Simulation" not in page and "L'import est enregistré, sauf les lignes rejetées ci-dessous." in page
    )
    assert (figure(page, "Dossiers créés"), figure(page, "Personnes créées")) == ("2", "1")
    assert figure(page, "Période couverte (ouvertures)") == "du 03/02/2024 au 11/06/2024"
    link = f'<a href="/personnes/{durand.person_id}">Voir la fiche'
    assert link in page and "Même nom et même date de naissance" in page
    assert resp.get(f"/personnes/{durand.person_id}").status_code == 200
    found = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=f"Lefèvre {tag}"), timeout=10)
    assert len(found.persons) == 1

    again = text_of(post_file(resp, sample(tag), "importer"))
    assert (figure(again, "Dossiers créés"), figure(again, "Dossiers déjà importés")) == ("0", "2")


def test_the_column_mapping_and_the_default_channel(signed_in: dict[str, httpx.Client]) -> None:
    resp = signed_in["responsable"]
    tag = uuid.uuid4().hex[:8]
    content = csv_content(
        f"{tag}-1;05/03/2024;Bar-le-Duc;logement;Martin {tag};Lou",
        header="numero;Ouvert le;commune;motifs;nom;prenom",
    )
    mapped = {"colonne-reference": "numero", "colonne-opened_at": "Ouvert le", "canal": "telephone"}
    checked = post_file(resp, content, "verifier", **mapped)
    assert checked.status_code == 200, checked.text
    page = text_of(checked)
    assert (figure(page, "Lignes acceptées"), figure(page, "Lignes rejetées")) == ("1", "0")
    assert '<details id="colonnes" open>' in page and 'value="Ouvert le"' in page  # the mapping kept
    assert '<option value="telephone" selected>' in page

    refused = post_file(resp, content, "verifier", **{**mapped, "colonne-reference": "Inexistant"})
    assert refused.status_code == 400
    page = text_of(refused)
    assert "Le fichier n'a pas de colonne « Inexistant »" in page
    assert 'id="colonne-reference-erreur"' in page and '<details id="colonnes" open>' in page


def test_a_missing_wrong_or_too_big_file_is_said_on_the_form(signed_in: dict[str, httpx.Client]) -> None:
    resp = signed_in["responsable"]
    csrf, request_id = form_tokens(resp, "/import")
    none = resp.post("/import", data={"csrf_token": csrf, "request_id": request_id, "action": "verifier"})
    assert none.status_code == 400 and "Choisissez le fichier à importer" in text_of(none)

    other = post_file(resp, b"numero_dossier\r\n", "verifier", filename="notes.txt")
    assert other.status_code == 400 and "Le fichier doit être un fichier .csv ou .xlsx" in text_of(other)

    too_big = post_file(resp, b"x" * (MAX_MESSAGE_BYTES + 1), "importer")
    assert too_big.status_code == 413
    page = text_of(too_big)
    assert "Le fichier dépasse 4 Mo, la taille maximale d'un envoi" in page
    assert "Correspondance des colonnes" in page  # the form again, not an error page

    empty = post_file(resp, b"", "verifier")
    assert empty.status_code == 400 and "Le fichier est vide." in text_of(empty)


def test_a_social_worker_has_no_link_and_is_refused(signed_in: dict[str, httpx.Client]) -> None:
    ts = signed_in["ts"]
    home = ts.get("/mes-dossiers")
    assert home.status_code == 200 and 'href="/import"' not in home.text
    refused = ts.get("/import")
    assert refused.status_code == 403
    page = text_of(refused)
    assert "Accès refusé" in page and "réservé aux agents de rôle responsable" in page
    assert "Correspondance des colonnes" not in page
    posted = ts.post(
        "/import",
        data={"csrf_token": csrf_of(home), "action": "importer"},
        files={"fichier": ("ancien.csv", sample("x"), "text/csv")},
    )
    assert posted.status_code == 403 and "Accès refusé" in text_of(posted)


def test_the_import_page_in_chromium(console: Console, tmp_path: Path) -> None:
    path = tmp_path / "ancien.csv"
    path.write_bytes(sample(uuid.uuid4().hex[:8]))
    with (
        browser.chromium() as chromium,
        browser.browsing(chromium, console.artefacts / "import") as (page, checked),
    ):
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, console, AGENTS["responsable"], "/import")
        page.get_by_text("Correspondance des colonnes").click()
        checked.accessible(page, "import, formulaire")
        page.set_input_files("#fichier", str(path))
        page.get_by_role("button", name="Vérifier le fichier").click()
        page.wait_for_load_state()
        assert page.get_by_text("Simulation : rien n'a été enregistré.").count() == 1
        checked.accessible(page, "import, vérification")
