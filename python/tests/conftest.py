"""Fixtures: the CLI built from this checkout, and live S3 / SFTP servers on 127.0.0.1.

The servers are the TypeScript tests' own (test/servers/*.ts), started through
dist/test/servers/live-main.js, which prints their environment and answers `url` / `counts` on stdin.
Run after `npm run build` (scripts/test.sh does both).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "bin" / "run.js"


class LiveServer:
    def __init__(self, kind: str) -> None:
        main = REPO / "dist" / "test" / "servers" / "live-main.js"
        if not main.exists():
            raise RuntimeError(f"{main} is missing: run `npm run build` first")
        self.kind = kind
        self.proc = subprocess.Popen(["node", str(main), kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        first = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not first:
            raise RuntimeError(f"the {kind} test server did not start (exit status {self.proc.wait()})")
        info = json.loads(first)
        self.env: dict[str, str] = info["env"]
        self.settings: dict[str, str] = info["settings"]

    def _ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the {self.kind} test server exited (status {self.proc.poll()}); see its stderr above")
        return json.loads(line)

    def new_url(self) -> str:
        return self._ask("url")["url"]

    def counts(self) -> dict[str, int]:
        return self._ask("counts")["counts"]

    def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session", autouse=True)
def cli_bin() -> Iterator[str]:
    """Every Client in the tests runs this checkout's CLI (through CKPTSYNC_BIN, as a user would)."""
    if not (REPO / "dist" / "src" / "index.js").exists():
        raise RuntimeError("the CLI is not built: run `npm run build` first")
    old = os.environ.get("CKPTSYNC_BIN")
    os.environ["CKPTSYNC_BIN"] = str(CLI)
    yield str(CLI)
    if old is None:
        del os.environ["CKPTSYNC_BIN"]
    else:
        os.environ["CKPTSYNC_BIN"] = old


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's shared cache is its own; the developer's ~/.cache is never touched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CKPTSYNC_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    return cache


@pytest.fixture(scope="session")
def s3() -> Iterator[LiveServer]:
    server = LiveServer("s3")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sftp() -> Iterator[LiveServer]:
    server = LiveServer("sftp")
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3", "sftp"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """(remote URL, env for the ckptsync process) on each kind of server."""
    if request.param == "local":
        return str(tmp_path / "remote"), {}
    server: LiveServer = request.getfixturevalue(request.param)
    return server.new_url(), server.env


def write_bytes(path: Path, size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes (a checkpoint's stand-in)."""
    import random

    data = random.Random(seed).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def init_repo(path: Path, remotes: dict[str, str], env: dict[str, str] | None = None) -> Path:
    """A ckptsync repository at path with the given remotes (the first is the default)."""
    path.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    subprocess.run(["node", str(CLI), "init"], cwd=path, check=True, capture_output=True, env=full_env)
    for name, url in remotes.items():
        subprocess.run(["node", str(CLI), "remote", "add", name, url], cwd=path, check=True, capture_output=True, env=full_env)
    return path


@pytest.fixture(autouse=True)
def fresh_default_client() -> Iterator[None]:
    """resolve_checkpoint_path's process-wide client keeps the environment it started with: one per test."""
    yield
    from ckptsync import resolve as r

    if r._default is not None:
        r._default.close()
        r._default = None
