"""Fixtures for the framework integrations' tests, run with the frameworks' virtualenv
(scripts/deps.d/python-frameworks.sh). The CLI, the per-test cache and the helpers are python/tests' own."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_shared = Path(__file__).resolve().parents[1] / "tests" / "conftest.py"
_spec = importlib.util.spec_from_file_location("ckptsync_shared_conftest", _shared)
assert _spec is not None and _spec.loader is not None
shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shared)

# pytest registers the fixtures a conftest module holds: the shared ones, under their own names.
cli_bin = shared.cli_bin
own_cache = shared.own_cache
fresh_default_client = shared.fresh_default_client
s3 = shared.s3
init_repo = shared.init_repo
CLI = shared.CLI
REPO = shared.REPO

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tiny_models, for the tests and their child processes


@pytest.fixture
def local_remote(tmp_path: Path) -> str:
    """A directory remote (the local driver) for one test: an empty folder that exists, as a bucket would.
    Reading a remote that points at nothing is an error (a mistyped path is not an empty remote), and the
    integrations read before their first push (Lightning's fsspec checks, Composer's overwrite check)."""
    (tmp_path / "remote").mkdir()
    return str(tmp_path / "remote")


def child_env(cache: Path) -> dict[str, str]:
    """The environment of a fresh training process: its own shared cache, the test models importable."""
    env = {**os.environ, "CKPTSYNC_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).resolve().parent)}
    return env
