"""gen/ is what protoc makes of proto/ today: never stale, never edited by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack import protogen


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fresh-gen")
    protogen.generate(out)
    return out


def test_generation_covers_every_proto(fresh: Path) -> None:
    protos = sorted(p.relative_to(protogen.PROTO_ROOT) for p in protogen.PROTO_ROOT.rglob("*.proto"))
    assert protos, "no .proto under proto/"
    for proto in protos:
        stem = proto.with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert (fresh / f"{stem}{suffix}").is_file(), f"{stem}{suffix}"
    for package in protogen.PACKAGE_DIRS:
        assert (fresh / package / "__init__.py").is_file()


def test_committed_gen_is_not_stale(fresh: Path) -> None:
    assert protogen.stale_files(protogen.GEN_ROOT, fresh) == [], "gen/ is stale: run `make proto`"


def test_generated_services_are_the_ones_imported(fresh: Path) -> None:
    """The package the services import is gen/ itself, not some other installed copy."""
    from entraide.v1 import reporting_pb2_grpc

    assert (
        Path(reporting_pb2_grpc.__file__).resolve()
        == (protogen.GEN_ROOT / "entraide" / "v1" / "reporting_pb2_grpc.py").resolve()
    )


def test_a_changed_byte_in_a_generated_file_is_detected(fresh: Path, tmp_path: Path) -> None:
    copy = tmp_path / "gen"
    shutil.copytree(protogen.GEN_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert protogen.stale_files(copy, fresh) == []
    target = copy / "entraide" / "v1" / "reporting_pb2.py"
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle] = ord("X") if data[middle] != ord("X") else ord("Y")
    target.write_bytes(bytes(data))
    assert protogen.stale_files(copy, fresh) == ["entraide/v1/reporting_pb2.py"]


def test_missing_and_extra_files_are_detected(fresh: Path, tmp_path: Path) -> None:
    copy = tmp_path / "gen"
    shutil.copytree(protogen.GEN_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "entraide" / "v1" / "intake_pb2_grpc.pyi").unlink()
    (copy / "entraide" / "v1" / "old_pb2.py").write_text("# a removed proto's leftover\n")
    # Compiled caches are not generated code: ignored.
    (copy / "entraide" / "v1" / "__pycache__").mkdir()
    (copy / "entraide" / "v1" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert protogen.stale_files(copy, fresh) == ["entraide/v1/intake_pb2_grpc.pyi", "entraide/v1/old_pb2.py"]
