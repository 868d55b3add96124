"""Shared fixtures: where the built programs are (P2PNS_BUILD, set by the Makefile)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    env = os.environ.get("P2PNS_BUILD")
    path = pathlib.Path(env) if env else ROOT / "build" / "gcc"
    if not (path / "bin").is_dir():
        raise RuntimeError(f"no built programs under {path}: run 'make' first")
    return path


@pytest.fixture(scope="session")
def bindir() -> pathlib.Path:
    return build_dir() / "bin"


@pytest.fixture(scope="session")
def keygen(bindir) -> str:
    return str(bindir / "p2pns-keygen")
