"""The fsspec file system `ckptsync://<remote>/<name>[/<path>]` over a configured S3 remote."""

from __future__ import annotations

import pickle
from pathlib import Path

import fsspec
import pytest

from ckptsync import Client
from ckptsync.fsspec_fs import CkptsyncFileSystem
from conftest import init_repo, write_bytes


@pytest.fixture
def origin(s3, tmp_path: Path):
    repo = init_repo(tmp_path / "repo", {"origin": s3.new_url()})
    opts = {"repo": str(repo), "env": s3.env, "skip_instance_cache": True}
    return repo, opts


def test_the_protocol_is_registered_through_the_fsspec_specs_entry_point() -> None:
    assert fsspec.get_filesystem_class("ckptsync") is CkptsyncFileSystem


def test_reading_a_byte_range_fetches_only_the_chunks_covering_it(s3, origin, tmp_path: Path) -> None:
    repo, opts = origin
    data = write_bytes(tmp_path / "last.ckpt", 24 << 20, seed=40)
    with Client(repo=repo, env=s3.env, cache_dir=tmp_path / "pusher") as c:
        pushed = c.push(tmp_path / "last.ckpt", "run1/last.ckpt")
    assert pushed.chunks_total >= 12
    fs = fsspec.filesystem("ckptsync", **opts)
    assert fs.info("ckptsync://origin/run1/last.ckpt")["size"] == 24 << 20
    assert fs.ls("ckptsync://origin/run1", detail=False) == ["origin/run1/last.ckpt"]
    before = s3.counts().get("GET chunk", 0)
    got = fs.cat_file("ckptsync://origin/run1/last.ckpt", start=10_000_000, end=10_001_000)
    assert got == data[10_000_000:10_001_000]
    fetched = s3.counts().get("GET chunk", 0) - before
    assert 1 <= fetched <= 2  # a 1000-byte range lies in one chunk, or two at a boundary; never the other 10+
    # Read again: the chunks are in the cache now, nothing is fetched.
    assert fs.cat_file("ckptsync://origin/run1/last.ckpt", start=10_000_000, end=10_001_000) == got
    assert s3.counts().get("GET chunk", 0) - before == fetched


def test_open_rb_reads_a_pickled_checkpoint_and_open_wb_pushes_under_the_name(origin, tmp_path: Path) -> None:
    repo, opts = origin
    state = {"layer.weight": list(range(50_000)), "step": 7}
    with fsspec.open("ckptsync://origin/run1/state.pkl", "wb", **opts) as f:
        pickle.dump(state, f)
    with fsspec.open("ckptsync://origin/run1/state.pkl", "rb", **opts) as f:
        assert pickle.load(f) == state  # the way torch.load(f) reads it: seeks and reads through the file
    fs = fsspec.filesystem("ckptsync", **opts)
    assert fs.exists("ckptsync://origin/run1/state.pkl")
    fs.rm("ckptsync://origin/run1/state.pkl")
    assert not fs.exists("ckptsync://origin/run1/state.pkl")


def test_a_directory_checkpoint_lists_and_reads_its_files(s3, origin, tmp_path: Path) -> None:
    repo, opts = origin
    shard = write_bytes(tmp_path / "ckpt" / "model-00001.bin", 3 << 20, seed=41)
    (tmp_path / "ckpt" / "config.json").write_text('{"hidden": 256}\n')
    with Client(repo=repo, env=s3.env) as c:
        c.push(tmp_path / "ckpt", "run2/step-100")
    fs = fsspec.filesystem("ckptsync", **opts)
    assert fs.isdir("ckptsync://origin/run2/step-100")
    assert fs.ls("ckptsync://origin/run2/step-100", detail=False) == ["origin/run2/step-100/config.json", "origin/run2/step-100/model-00001.bin"]
    assert fs.cat_file("ckptsync://origin/run2/step-100/config.json") == b'{"hidden": 256}\n'
    with fs.open("ckptsync://origin/run2/step-100/model-00001.bin", "rb") as f:
        f.seek(1_000_000)
        assert f.read(4096) == shard[1_000_000:1_004_096]
    with pytest.raises(FileNotFoundError):
        fs.info("ckptsync://origin/run2/step-100/missing.bin")


def test_the_calls_lightnings_model_checkpoint_makes_work_on_a_ckptsync_dirpath(origin, monkeypatch: pytest.MonkeyPatch) -> None:
    # ModelCheckpoint(dirpath="ckptsync://origin/run3") without Lightning installed: its calls, in its order
    # (get_filesystem = url_to_fs; save: makedirs, fsspec.open wb; top-k: exists, rm recursive).
    repo, opts = origin
    monkeypatch.chdir(repo)  # the remote's name is found from the current directory, as in a training script
    fs, dirpath = fsspec.core.url_to_fs("ckptsync://origin/run3")
    assert isinstance(fs, CkptsyncFileSystem)
    fs = fsspec.filesystem("ckptsync", env=opts["env"], skip_instance_cache=True)
    assert not fs.isdir("ckptsync://origin/run3")
    for epoch in range(3):
        path = f"ckptsync://origin/run3/epoch={epoch}-step={10 * epoch}.ckpt"
        fs.makedirs("ckptsync://origin/run3", exist_ok=True)
        with fsspec.open(path, "wb", env=opts["env"], skip_instance_cache=True) as f:
            f.write(pickle.dumps({"epoch": epoch}))
        if epoch > 0:
            old = f"ckptsync://origin/run3/epoch={epoch - 1}-step={10 * (epoch - 1)}.ckpt"
            assert fs.exists(old)
            fs.rm(old, recursive=True)
    fs.invalidate_cache()
    assert fs.isdir("ckptsync://origin/run3")
    assert fs.ls("ckptsync://origin/run3", detail=False) == ["origin/run3/epoch=2-step=20.ckpt"]
    with fs.open("ckptsync://origin/run3/epoch=2-step=20.ckpt", "rb") as f:
        assert pickle.load(f) == {"epoch": 2}
