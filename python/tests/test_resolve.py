"""resolve_checkpoint_path: paths as is, the shared cache, offline, and one download for many processes."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

import ckptsync
from ckptsync import Client, NotFoundError, resolve_checkpoint_path
from conftest import write_bytes


def test_an_existing_absolute_path_is_returned_as_is_without_starting_ckptsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "model.pt"
    f.write_bytes(b"x")
    monkeypatch.setenv("CKPTSYNC_BIN", str(tmp_path / "no-such-cli"))  # would fail if a process were started
    assert resolve_checkpoint_path(str(f)) == str(f)


def test_offline_with_nothing_cached_names_the_identifier_and_the_cache(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as e:
        resolve_checkpoint_path("convnext_tiny_22k_1k_384.pth", cache_dir=tmp_path / "c", offline=True)
    assert "convnext_tiny_22k_1k_384.pth" in str(e.value)
    assert str(tmp_path / "c") in str(e.value)


def test_a_name_resolves_into_the_shared_cache_then_offline(tmp_path: Path) -> None:
    remote = str(tmp_path / "remote")
    data = write_bytes(tmp_path / "convnext.pth", 2 << 20, seed=11)
    with Client(remote=remote, cache_dir=tmp_path / "pusher") as c:
        c.push(tmp_path / "convnext.pth", "convnext_tiny_22k_1k_384.pth")
    p = resolve_checkpoint_path("convnext_tiny_22k_1k_384.pth", remote=remote)
    assert os.path.isabs(p) and Path(p).read_bytes() == data
    assert p.startswith(os.environ["CKPTSYNC_CACHE"])
    assert resolve_checkpoint_path("convnext_tiny_22k_1k_384.pth", offline=True) == p


def _resolve_in_child(name: str, remote: str, env: dict[str, str], start: "mp.synchronize.Barrier", out: "mp.Queue") -> None:  # type: ignore[name-defined]
    os.environ.update(env)
    start.wait()
    try:
        out.put(resolve_checkpoint_path(name, remote=remote))
    except BaseException as e:  # noqa: BLE001
        out.put(e)


def test_eight_processes_resolving_one_missing_checkpoint_get_one_path_and_one_download(s3, tmp_path: Path) -> None:
    url = s3.new_url()
    data = write_bytes(tmp_path / "shared.bin", 24 << 20, seed=12)
    with Client(remote=url, env=s3.env, cache_dir=tmp_path / "pusher") as c:
        pushed = c.push(tmp_path / "shared.bin", "ranks/shared.bin")
    before = s3.counts().get("GET chunk", 0)
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_resolve_in_child, args=("ranks/shared.bin", url, s3.env, start, out)) for _ in range(8)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(set(results)) == 1
    assert Path(results[0]).read_bytes() == data
    # Counted by the server's proxy: each chunk object was downloaded once, by one of the eight.
    assert s3.counts().get("GET chunk", 0) - before == pushed.chunks_total


def test_the_package_exports_what_the_issue_names() -> None:
    for name in ("Client", "resolve_checkpoint_path", "Checkpointer", "BackgroundUploader", "CheckpointUploader", "CheckpointDownloader", "CkptsyncError", "UsageError", "NotFoundError", "AuthError", "IntegrityError", "ConflictError", "LockedError", "TransientError", "ConfigError"):
        assert hasattr(ckptsync, name), name


def test_a_pointer_file_and_a_name_ending_in_ckpt_both_resolve(tmp_path: Path) -> None:
    from conftest import init_repo

    remote = str(tmp_path / "remote")
    repo = init_repo(tmp_path / "repo", {"origin": remote})
    data = write_bytes(repo / "models" / "m.safetensors", 1 << 20, seed=13)
    lightning = write_bytes(tmp_path / "last.ckpt", 2 << 20, seed=14)  # big: a checkpoint, not a pointer
    with Client(repo=repo) as c:
        added = c.add(repo / "models" / "m.safetensors")
        c.push(repo / "models" / "m.safetensors.ckpt")
        c.push(tmp_path / "last.ckpt", "run1/last.ckpt")
        assert added["pointerPath"] == str(repo / "models" / "m.safetensors.ckpt")
    with Client(repo=repo, cache_dir=tmp_path / "fresh") as c:
        assert Path(c.resolve(repo / "models" / "m.safetensors.ckpt").path).read_bytes() == data
        assert Path(c.resolve("run1/last.ckpt").path).read_bytes() == lightning
    assert resolve_checkpoint_path(str(tmp_path / "last.ckpt")) == str(tmp_path / "last.ckpt")
