"""`entraide import` end to end, as a responsable types it against this session's real
services: the simulation says nothing was written and writes nothing; the import writes
and reports in French (rejected rows by line and column, persons already known); the
same file again changes nothing; an XLSX file with its own headers, values and a
default; the exit codes (1 when rows were rejected) and the usage errors."""

from __future__ import annotations

import asyncio
import json
import random
import string
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from entraide.v1 import intake_pb2, intake_pb2_grpc
from openpyxl import Workbook

from kernel.auth import Role
from tests.conftest import AppStack
from tests.e2e.entraide_cli.test_cli import (
    ENTRAIDE,
    cli,
    field,
    offline_env,
    run_offline,
    undocumented_options,
)

if TYPE_CHECKING:
    from entraide.v1.intake_pb2_grpc import IntakeServiceAsyncStub as Stub

RESPONSABLE = "resp-import-cli"
HEADER = (
    "numero_dossier;date_ouverture;commune;motifs;canal;date_ecoute;date_cloture;issue;"
    "nom;prenom;date_naissance;telephone;numero_foyer"
)


def phone() -> str:
    return "06" + "".join(random.choices(string.digits, k=8))


async def as_responsable(stack: AppStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(stack.env)
    env["ENTRAIDE_TOKEN"] = stack.token(RESPONSABLE, Role.RESPONSABLE)
    return await asyncio.to_thread(
        subprocess.run, [ENTRAIDE, *args], env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
async def intake(app_stack: AppStack) -> AsyncIterator[Stub]:
    async with app_stack.channel("intake", app_stack.token(RESPONSABLE, Role.RESPONSABLE)) as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


def csv_file(tmp_path: Path, tag: str, known_phone: str) -> Path:
    """Four rows: a closed dossier, one for a person already known (same name and birth
    date), one for a new person with a known phone, and one with an impossible date."""
    rows = [
        f"{tag}-1;03/02/2024;55029;logement;visite_spontanee;05/02/2024;20/03/2024;regle;"
        f"Lefèvre {tag};Éloïse;12/05/1980;{phone()};{tag}-F1",
        f"{tag}-2;2024-06-11;Bar-le-Duc;Logement / hébergement;Téléphone;;;;Durand {tag};Jean;02/04/1975;;",
        f"{tag}-3;15/09/2025;55029;emploi;telephone;16/09/2025;;;Martin {tag};Marc;01/01/1978;"
        f"{known_phone};{tag}-F1",
        f"{tag}-4;31/02/2024;55029;emploi;telephone;;;;;;;;",
    ]
    path = tmp_path / f"ancien-{tag}.csv"
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode())
    return path


async def test_simulation_then_import_then_again(app_stack: AppStack, intake: Stub, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    known_phone = phone()
    durand = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=str(uuid.uuid4()),
            territory="55029",
            first_name="Jean",
            last_name=f"Durand {tag}",
            birth_date="1975-04-02",
        ),
        timeout=10,
    )
    other = await intake.CreatePerson(
        intake_pb2.CreatePersonRequest(
            request_id=str(uuid.uuid4()),
            territory="55029",
            first_name="Paul",
            last_name=f"Autre {tag}",
            phone=known_phone,
        ),
        timeout=10,
    )
    path = csv_file(tmp_path, tag, known_phone)

    simulation = await as_responsable(app_stack, "import", str(path), "--simulation")
    assert simulation.returncode == 1, simulation.stderr  # a row was rejected
    out = simulation.stdout
    assert out.startswith("Simulation : rien n'a été enregistré.\n"), out
    assert (field(out, "Lignes lues"), field(out, "Lignes acceptées"), field(out, "Lignes rejetées")) == (
        "4",
        "3",
        "1",
    )
    assert (
        field(out, "Dossiers à créer"),
        field(out, "Personnes à créer"),
        field(out, "Foyers à créer"),
    ) == (
        "3",
        "2",
        "1",
    )
    assert field(out, "Période couverte") == "du 03/02/2024 au 15/09/2025"
    assert "Rejets, par ligne :\n  ligne 5, colonne « date_ouverture » : " in out
    assert f"  ligne 3 : personne déjà connue ({durand.person.person_id}), dossier rattaché" in out
    assert f"  ligne 4 : doublon possible avec ({other.person.person_id}), à vérifier" in out
    found = await intake.SearchPersons(intake_pb2.SearchPersonsRequest(name=f"Lefèvre {tag}"), timeout=10)
    assert list(found.persons) == []  # nothing written

    done = await as_responsable(app_stack, "import", str(path))
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert uuid.UUID(field(out, "Import enregistré")) and "Simulation" not in out
    assert (field(out, "Dossiers créés"), field(out, "Dossiers déjà importés")) == ("3", "0")
    assert (field(out, "Personnes créées"), field(out, "Foyers créés")) == ("2", "1")
    assert field(out, "Dossiers encore ouverts") == "2"  # dossiers 2 and 3 are still open
    assert "  ligne 5, colonne « date_ouverture » : " in out
    dossiers = await intake.ListDossiers(
        intake_pb2.ListDossiersRequest(person_id=durand.person.person_id), timeout=10
    )
    assert [d.stage for d in dossiers.dossiers] == ["reception"]

    again = await as_responsable(app_stack, "--json", "import", str(path))
    assert again.returncode == 1, again.stderr
    report = json.loads(again.stdout)
    assert (report["dossiers_created"], report["already_imported"], report["persons_created"]) == (0, 3, 0)
    assert report["errors"][0]["line"] == 5 and report["errors"][0]["reason"] == "INVALID_DATE"
    text = (await as_responsable(app_stack, "import", str(path))).stdout
    assert (field(text, "Dossiers créés"), field(text, "Dossiers déjà importés")) == ("0", "3")


async def test_an_xlsx_file_with_its_own_headers_values_and_default(
    app_stack: AppStack, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["N° dossier", "Ouvert le", "Commune", "Motif", "Nom", "Prénom", "Né le", "Clos le", "Résultat"]
    )
    born = datetime(1990, 5, 4)
    sheet.append([f"{tag}-1", datetime(2024, 1, 8), 55029, "logement", f"Petit {tag}", "Anne", born])
    closed = datetime(2024, 3, 1)
    sheet.append(
        [f"{tag}-2", datetime(2024, 2, 1), 55029, "emploi", f"Petit {tag}", "Anne", born, closed, "Résolu"]
    )
    path = tmp_path / f"ancien-{tag}.xlsx"
    book.save(path)

    pairs = ["reference=N° dossier", "opened_at=Ouvert le", "motifs=Motif", "birth_date=Né le"]
    columns = [f"--colonne={pair}" for pair in (*pairs, "closed_at=Clos le", "outcome=Résultat")]
    default = ["--defaut", "arrival_channel=visite_spontanee"]  # the file has no channel
    # Without the translation of « Résolu », the service says which value it does not know.
    refused = await as_responsable(app_stack, "import", str(path), "--simulation", *columns, *default)
    assert refused.returncode == 1
    assert "  ligne 3, colonne « Résultat » : " in refused.stdout, refused.stdout

    done = await as_responsable(
        app_stack, "import", str(path), *columns, *default, "--valeur", "outcome:Résolu=regle"
    )
    assert done.returncode == 0, done.stdout + done.stderr  # no row rejected
    out = done.stdout
    assert (field(out, "Lignes lues"), field(out, "Lignes rejetées"), field(out, "Dossiers créés")) == (
        "2",
        "0",
        "2",
    )
    assert field(out, "Personnes créées") == "1" and "Rejets, par ligne :" not in out
    assert field(out, "Période couverte") == "du 08/01/2024 au 01/02/2024"


async def test_only_a_responsable_imports(app_stack: AppStack, tmp_path: Path) -> None:
    path = csv_file(tmp_path, uuid.uuid4().hex[:8], phone())
    done = await cli(app_stack, "import", str(path), "--simulation")  # a travailleur social
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Erreur : ") and "[" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_usage_errors(tmp_path: Path) -> None:
    env = offline_env(tmp_path)
    notes = tmp_path / "dossiers.txt"
    notes.write_text("numero_dossier;date_ouverture\n", encoding="utf-8")
    unknown = run_offline(env, "import", str(notes))
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.startswith("utilisation : entraide import ")
    assert f"entraide import : erreur : format inconnu pour « {notes} »" in unknown.stderr, unknown.stderr

    missing = run_offline(env, "import", str(tmp_path / "absent.csv"))
    assert missing.returncode == 2
    assert (
        f"impossible de lire « {tmp_path / 'absent.csv'} » : fichier ou dossier introuvable" in missing.stderr
    )

    wrong = run_offline(env, "import", str(notes), "--format", "csv", "--colonne", "reference")
    assert wrong.returncode == 2 and "attendu CHAMP=ENTÊTE, pas « reference »" in wrong.stderr
    wrong = run_offline(env, "import", str(notes), "--format", "csv", "--valeur", "outcome=regle")
    assert wrong.returncode == 2 and "attendu CHAMP:VALEUR=CODE" in wrong.stderr

    helped = run_offline(env, "import", "--help")
    assert helped.returncode == 0 and "Codes de sortie :" in helped.stdout
    assert "  1  des lignes ont été rejetées" in helped.stdout
    assert undocumented_options(helped.stdout) == [], helped.stdout
    assert "import (importer)" in run_offline(env, "--help").stdout
