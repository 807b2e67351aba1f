"""JSON logs: one object per line, allow-listed fields only, never an exception's message."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from kernel.logs import ALLOWED_FIELDS, JsonFormatter, configure_logging, get_logger

PERSONAL_ERROR = "Jeanne Martin 06 12 34 56 78"


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict[str, Any]]:
        lines = self.text.splitlines()
        assert lines, "nothing was logged"
        entries = [json.loads(line) for line in lines]
        assert all(isinstance(e, dict) for e in entries)
        return entries


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, Captured]]:
    """A fresh `entraide.*` logger writing through JsonFormatter into memory."""
    out = Captured()
    handler = logging.StreamHandler(out.stream)
    handler.setFormatter(JsonFormatter("intake"))
    logger = get_logger(f"test.{uuid.uuid4().hex[:8]}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)


def fail_with_personal_data() -> None:
    raise ValueError(PERSONAL_ERROR)


def test_each_record_is_one_json_object_per_line_with_the_base_fields(
    captured: tuple[logging.Logger, Captured],
) -> None:
    logger, out = captured
    logger.info("dossier opened")
    logger.warning("two\nlines in one record")
    logger.debug("counted %d", 3)
    assert len(out.text.splitlines()) == 3
    first, second, third = out.entries()
    assert first["level"] == "INFO"
    assert first["service"] == "intake"
    assert first["msg"] == "dossier opened"
    assert first["logger"] == logger.name
    stamp = datetime.fromisoformat(first["time"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert (second["level"], second["msg"]) == ("WARNING", "two\nlines in one record")
    assert (third["level"], third["msg"]) == ("DEBUG", "counted 3")
    assert set(first) == {"time", "level", "service", "logger", "msg"}


def test_allow_listed_extras_pass_and_any_other_is_redacted(
    captured: tuple[logging.Logger, Captured],
) -> None:
    logger, out = captured
    logger.info(
        "dossier opened",
        extra={"dossier_id": "d-123", "count": 4, "name_of_person": "Jeanne Martin", "phone": "0612345678"},
    )
    (entry,) = out.entries()
    assert entry["dossier_id"] == "d-123"
    assert entry["count"] == 4
    assert entry["name_of_person"] == "[redacted]"
    assert entry["phone"] == "[redacted]"
    assert "Jeanne" not in out.text
    assert "0612345678" not in out.text


def test_every_allow_listed_field_passes(captured: tuple[logging.Logger, Captured]) -> None:
    logger, out = captured
    fields = {name: f"value-{name}" for name in ALLOWED_FIELDS if name != "service"}
    logger.info("all fields", extra=fields)
    (entry,) = out.entries()
    for name, value in fields.items():
        assert entry[name] == value


def test_exception_message_never_appears_only_its_type_and_location(
    captured: tuple[logging.Logger, Captured],
) -> None:
    logger, out = captured
    try:
        fail_with_personal_data()
    except ValueError:
        logger.exception("could not open dossier", extra={"dossier_id": "d-9"})
    try:
        try:
            fail_with_personal_data()
        except ValueError as inner:
            raise RuntimeError(f"wrapped: {inner}") from inner
    except RuntimeError:
        logger.error("chained", exc_info=True)
    assert "Jeanne" not in out.text
    assert "06 12" not in out.text
    first, second = out.entries()
    assert first["level"] == "ERROR"
    assert first["msg"] == "could not open dossier"
    assert first["dossier_id"] == "d-9"
    assert first["error_type"] == "ValueError"
    where = first["where"]
    assert isinstance(where, list) and 1 <= len(where) <= 5
    assert where[-1].endswith("fail_with_personal_data")
    assert "test_logs.py:" in where[-1]
    assert second["error_type"] == "RuntimeError"


def test_other_libraries_messages_are_not_formatted_with_their_arguments() -> None:
    """A third-party logger's arguments may be row values: only its format string is kept."""
    out = Captured()
    handler = logging.StreamHandler(out.stream)
    handler.setFormatter(JsonFormatter("intake"))
    logger = logging.getLogger(f"somelib.{uuid.uuid4().hex[:8]}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("row %s rejected", "Jeanne Martin")
    finally:
        logger.removeHandler(handler)
    (entry,) = out.entries()
    assert entry["msg"] == "row %s rejected"
    assert "Jeanne" not in out.text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("temporalio", "nats", "asyncio", "grpc")}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, noisy_level in noisy.items():
            logging.getLogger(name).setLevel(noisy_level)


def test_configure_logging_makes_the_root_logger_emit_json_on_stderr(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("referral", "INFO")
    root = logging.getLogger()
    assert len(root.handlers) == 1
    get_logger("kernel-test").info("started", extra={"port": 50052, "person": "Jeanne"})
    get_logger("kernel-test").debug("below the level")
    logging.getLogger("nats.test").info("library chatter")  # quietened: below WARNING
    logging.getLogger("nats.test").warning("library warning")
    try:
        fail_with_personal_data()
    except ValueError:
        logging.getLogger("some.other").exception("failed")
    captured = capsys.readouterr()
    assert captured.out == ""
    entries = [json.loads(line) for line in captured.err.splitlines()]
    assert [(e["logger"], e["msg"]) for e in entries] == [
        ("entraide.kernel-test", "started"),
        ("nats.test", "library warning"),
        ("some.other", "failed"),
    ]
    assert all(e["service"] == "referral" for e in entries)
    assert entries[0]["port"] == 50052
    assert entries[0]["person"] == "[redacted]"
    assert entries[2]["error_type"] == "ValueError"
    assert "Jeanne" not in captured.err
    # The handler writes to the stderr of the time it was configured.
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr


def test_configure_logging_level_applies_to_noisy_libraries_too(restore_logging: None) -> None:
    configure_logging("reporting", "ERROR")
    assert logging.getLogger().level == logging.ERROR
    assert logging.getLogger("temporalio").level == logging.ERROR
    configure_logging("reporting", "DEBUG")
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("grpc").level == logging.WARNING
    assert logging.getLogger("nats").level == logging.WARNING
