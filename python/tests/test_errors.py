"""Every exception type, each raised by a real failure of a real server or store."""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ckptsync import (
    AuthError,
    Client,
    CkptsyncError,
    ConfigError,
    ConflictError,
    IntegrityError,
    LockedError,
    NoSpaceError,
    NotFoundError,
    TransientError,
    UsageError,
)
from conftest import write_bytes


def test_usage_error_for_an_identifier_that_is_no_name(tmp_path: Path) -> None:
    with Client(remote=str(tmp_path / "remote")) as c, pytest.raises(UsageError) as e:
        c.resolve("not a name!")
    assert (e.value.code, e.value.exit_code) == ("USAGE", 2)
    assert "not a name!" in str(e.value)


def test_not_found_error_for_a_missing_name(tmp_path: Path) -> None:
    (tmp_path / "remote").mkdir()
    with Client(remote=str(tmp_path / "remote")) as c, pytest.raises(NotFoundError) as e:
        c.resolve("run9/missing")
    assert (e.value.code, e.value.exit_code) == ("NOT_FOUND", 3)
    assert "run9/missing" in str(e.value)


def test_not_found_error_for_a_remote_that_does_not_exist(tmp_path: Path) -> None:
    # A mistyped path is not an empty remote.
    with Client(remote=str(tmp_path / "typo")) as c, pytest.raises(NotFoundError) as e:
        c.names()
    assert "typo does not exist" in str(e.value)


def test_auth_error_for_wrong_credentials_and_no_secret_anywhere(s3) -> None:
    url = s3.new_url()
    secret = "wJalrXUtnFEMI-not-the-right-secret"
    env = {**s3.env, "AWS_ACCESS_KEY_ID": "WRONGKEYID", "AWS_SECRET_ACCESS_KEY": secret}
    c = Client(remote=url, env=env)
    with pytest.raises(AuthError) as e:
        c.names()
    assert (e.value.code, e.value.exit_code) == ("AUTH", 4)
    for text in (str(e.value), repr(e.value), repr(c)):
        assert secret not in text
    c.close()


def test_integrity_error_for_a_corrupt_chunk_on_the_remote(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    write_bytes(tmp_path / "a.bin", 2 << 20, seed=7)
    with Client(remote=str(remote), cache_dir=tmp_path / "pusher-cache") as c:
        c.push(tmp_path / "a.bin", "i/a")
    chunk = next(p for p in (remote / "chunks").rglob("*") if p.is_file())
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with Client(remote=str(remote)) as c, pytest.raises(IntegrityError) as e:
        c.resolve("i/a")
    assert (e.value.code, e.value.exit_code) == ("INTEGRITY", 5)
    assert chunk.name in str(e.value)
    snapshots = Path(os.environ["CKPTSYNC_CACHE"]) / "snapshots"
    assert not any(p.is_file() for p in snapshots.rglob("*"))  # nothing half-written was left to be found


def test_locked_error_when_a_push_holds_the_remote_during_gc(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    write_bytes(tmp_path / "a.bin", 1 << 20, seed=8)
    with Client(remote=str(remote)) as c:
        c.push(tmp_path / "a.bin", "l/a")
        # Another machine's push in progress, as its lease document says (manifest-spec.md, locks).
        now = datetime.now(timezone.utc)
        holder = {"id": "0123456789abcdef", "op": "push", "by": "trainer@other-host", "created": now.isoformat(), "expires": (now + timedelta(minutes=10)).isoformat()}
        (remote / "locks").mkdir(exist_ok=True)
        (remote / "locks" / "push.lock").write_text(json.dumps({"version": 1, "holders": [holder]}) + "\n")
        with pytest.raises(LockedError) as e:
            c.gc()
        assert (e.value.code, e.value.exit_code) == ("LOCK_HELD", 7)
        assert "trainer@other-host" in str(e.value)


def test_transient_error_when_the_server_is_unreachable(s3) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**s3.env, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    with Client(remote=s3.new_url(), env=env) as c, pytest.raises(TransientError) as e:
        c.names()
    assert (e.value.code, e.value.exit_code) == ("TRANSIENT", 8)


def test_config_error_without_any_remote_outside_a_repository(tmp_path: Path) -> None:
    with Client() as c, pytest.raises(ConfigError) as e:
        c.names()
    assert (e.value.code, e.value.exit_code) == ("CONFIG", 9)
    assert "no remote given" in str(e.value)


def test_conflict_error_when_two_writers_push_one_name_at_once(s3, tmp_path: Path) -> None:
    url = s3.new_url()
    write_bytes(tmp_path / "big.bin", 48 << 20, seed=9)
    write_bytes(tmp_path / "small.bin", 64 << 10, seed=10)
    a = Client(remote=url, env=s3.env, cache_dir=tmp_path / "cache-a")
    b = Client(remote=url, env=s3.env, cache_dir=tmp_path / "cache-b")
    b.names()  # started before the race
    outcomes: dict[str, object] = {}

    def other_writer_pushes_meanwhile(p) -> None:
        # A has read where the name points and is uploading its chunks: B pushes the same name now.
        if p.phase == "upload" and "b" not in outcomes:
            outcomes["b"] = None
            try:
                outcomes["b"] = b.push(tmp_path / "small.bin", "c/model")
            except CkptsyncError as e:
                outcomes["b"] = e

    try:
        outcomes["a"] = a.push(tmp_path / "big.bin", "c/model", progress=other_writer_pushes_meanwhile)
    except CkptsyncError as e:
        outcomes["a"] = e
    # Whichever moved the name second finds it moved under it: one ConflictError, its version kept in history.
    conflicts = [x for x in outcomes.values() if isinstance(x, ConflictError)]
    assert len(conflicts) == 1, outcomes
    assert (conflicts[0].code, conflicts[0].exit_code) == ("REF_CONFLICT", 6)
    assert "kept in its history" in str(conflicts[0])
    winner = next(x for x in outcomes.values() if not isinstance(x, CkptsyncError))
    assert a.resolve("c/model").manifest == winner.manifest  # type: ignore[union-attr]
    a.close()
    b.close()


def test_conflict_error_when_a_pull_would_overwrite_a_local_edit(tmp_path: Path) -> None:
    remote = str(tmp_path / "remote")
    write_bytes(tmp_path / "w.bin", 256 << 10, seed=11)
    dest = tmp_path / "out" / "w.bin"
    with Client(remote=remote, cache_dir=tmp_path / "cache") as c:
        c.push(tmp_path / "w.bin", "e/w")
        c.pull("e/w", dest)
        dest.write_bytes(b"my local edit")
        with pytest.raises(ConflictError) as e:
            c.pull("e/w", dest)
        assert (e.value.code, e.value.exit_code) == ("WORKTREE_CONFLICT", 6)
        assert dest.read_bytes() == b"my local edit", "the edit is kept"
        c.pull("e/w", dest, force=True)
        assert dest.read_bytes() == (tmp_path / "w.bin").read_bytes()


def test_no_space_error_when_the_remote_is_full(tmp_path: Path) -> None:
    # A 256 KiB tmpfs as the remote (mount needs root, as in CI): a 2 MiB push cannot fit.
    import subprocess

    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)], check=True)
    try:
        write_bytes(tmp_path / "big.bin", 2 << 20, seed=12)
        with Client(remote=str(full / "remote"), cache_dir=tmp_path / "cache") as c, pytest.raises(NoSpaceError) as e:
            c.push(tmp_path / "big.bin", "n/big")
        assert (e.value.code, e.value.exit_code) == ("NO_SPACE", 10)
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)


def test_exceptions_carry_code_and_message_and_pickle() -> None:
    import pickle

    e = pickle.loads(pickle.dumps(NotFoundError("no checkpoint named x", "NOT_FOUND", 3)))
    assert isinstance(e, NotFoundError) and isinstance(e, CkptsyncError)
    assert (e.code, e.exit_code, str(e)) == ("NOT_FOUND", 3, "no checkpoint named x")
    assert repr(e) == "NotFoundError(code='NOT_FOUND', message='no checkpoint named x')"
