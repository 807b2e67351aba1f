"""Regenerates the Python code for proto/ into gen/ (never edit gen/ by hand).

Usage: python -m devstack.protogen [--check]
--check regenerates into a temporary folder and exits 1 if gen/ differs (stale).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
GEN_ROOT = ROOT / "gen"
PACKAGE_DIRS = ("entraide", "entraide/v1")


def generate(out_dir: Path) -> None:
    """Runs protoc (python, grpc and mypy stubs) over every .proto under proto/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    bin_dir = Path(sys.executable).parent
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in PACKAGE_DIRS:
        init = out_dir / package / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_text('"""Generated from proto/ by devstack.protogen; do not edit."""\n')


def stale_files(reference: Path, fresh: Path) -> list[str]:
    """Relative paths that differ between two generated trees."""
    differences: list[str] = []
    ref_files = {
        p.relative_to(reference) for p in reference.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    new_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    for rel in sorted(ref_files | new_files):
        a, b = reference / rel, fresh / rel
        if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
            differences.append(str(rel))
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if gen/ is stale")
    options = parser.parse_args()
    if options.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            stale = stale_files(GEN_ROOT, Path(tmp))
        if stale:
            print("gen/ is stale, run `make proto`:", *stale, sep="\n  ")
            raise SystemExit(1)
        print("gen/ is up to date")
        return
    shutil.rmtree(GEN_ROOT / "entraide", ignore_errors=True)
    generate(GEN_ROOT)
    print(f"generated into {GEN_ROOT}")


if __name__ == "__main__":
    main()
