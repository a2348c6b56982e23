"""Checkpointer and BackgroundUploader against real remotes."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ckptsync import BackgroundUploader, CheckpointDownloader, Checkpointer, CheckpointUploader, Client, UsageError
from conftest import write_bytes


def pickle_writer(state: object, path: str) -> None:
    with open(path, "wb") as f:
        pickle.dump(state, f)


def pickle_reader(path: str) -> object:
    with open(path, "rb") as f:
        return pickle.load(f)


def test_checkpointer_period_5_keep_last_2_over_0_to_19_ends_with_15_and_19_here_and_on_the_remote(remote, tmp_path: Path) -> None:
    url, env = remote
    client = Client(remote=url, env=env)
    ck = Checkpointer(tmp_path / "ckpts", period=5, keep_last=2, remote=url, writer=pickle_writer, reader=pickle_reader, client=client)
    saved = []
    for i in range(20):
        p = ck.save({"step": i, "weights": bytes(range(256)) * 64}, i, force=(i == 19))
        if p is not None:
            saved.append(i)
    ck.wait()
    assert saved == [0, 5, 10, 15, 19]
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == ["checkpoint_15.pt", "checkpoint_19.pt"]
    assert client.names() == ["checkpoint_15.pt", "checkpoint_19.pt"]
    assert ck.latest() == 19
    assert ck.load() == {"step": 19, "weights": bytes(range(256)) * 64}
    # On a fresh machine (nothing in save_dir), latest() asks the remote.
    fresh = Checkpointer(tmp_path / "elsewhere", period=5, remote=url, client=client, writer=pickle_writer)
    assert fresh.latest() == 19
    ck.close()
    client.close()


def test_checkpointer_without_remote_names_files_finds_latest_recursively_and_refuses_bad_periods(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path / "run", period=2, file_prefix="epoch_", file_ext=".ckpt", writer=pickle_writer, reader=pickle_reader)
    assert ck.save("a", 3) is None
    assert ck.save("b", 4) == str(tmp_path / "run" / "epoch_4.ckpt")
    assert ck.save_model("final", 7) == str(tmp_path / "run" / "epoch_7.ckpt")
    (tmp_path / "run" / "sub").mkdir()
    (tmp_path / "run" / "sub" / "epoch_12.ckpt").write_bytes(pickle.dumps("deep"))
    assert Checkpointer.get_latest_file(tmp_path / "run", "epoch_", ".ckpt") == str(tmp_path / "run" / "sub" / "epoch_12.ckpt")
    assert ck.load() == "deep"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(UsageError):
        Checkpointer(tmp_path / "x", period=0)
    again = Checkpointer(tmp_path / "run", file_prefix="epoch_", file_ext=".ckpt", delete_existing_checkpoints=True)
    assert again.latest() is None


def test_background_uploader_returns_at_once_and_ends_with_all_five_names(tmp_path: Path) -> None:
    remote = str(tmp_path / "remote")
    for i in range(5):
        write_bytes(tmp_path / f"f{i}.bin", 2 << 20, seed=20 + i)
    up = BackgroundUploader(remote, workers=2)
    # Hold the uploader's client: no upload can start. upload_file must still return, five times.
    with up.client._lock:
        futures = [up.upload_file(f"bg/file-{i}", tmp_path / f"f{i}.bin") for i in range(5)]
        assert not any(f.done() for f in futures)
    up.wait()
    assert all(f.done() and f.exception() is None for f in futures)
    with Client(remote=remote) as c:
        assert c.names("bg/") == [f"bg/file-{i}" for i in range(5)]
        # Uploading a name again moves it; the file's new content is what the name gives.
        write_bytes(tmp_path / "f0.bin", 1 << 20, seed=99)
        up.upload_file("bg/file-0", tmp_path / "f0.bin")
        up.wait()
        assert Path(c.resolve("bg/file-0").path).read_bytes() == (tmp_path / "f0.bin").read_bytes()
    up.close()


def test_background_uploader_wait_raises_the_first_failure(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a.bin", 1024, seed=1)
    with BackgroundUploader(str(tmp_path / "remote")) as up:
        up.upload_file("bad name!", tmp_path / "a.bin")
        up.upload_file("good", tmp_path / "a.bin")
        with pytest.raises(UsageError, match="bad name!"):
            up.wait()
        up.wait()  # reported once


def test_checkpoint_uploader_and_downloader_move_a_checkpoint_through_s3(s3, tmp_path: Path) -> None:
    url = s3.new_url()
    bucket_and_prefix = url[len("s3://"):]
    data = write_bytes(tmp_path / "checkpoints" / "epoch-10.pt", 1 << 20, seed=30)
    client = Client(env=s3.env)
    r = CheckpointUploader(client).upload_to_s3(bucket_and_prefix, "checkpoints/epoch-10.pt")
    assert r.name == "checkpoints/epoch-10.pt"
    (tmp_path / "checkpoints" / "epoch-10.pt").unlink()
    path = CheckpointDownloader(client).download_from_s3(bucket_and_prefix, "checkpoints/epoch-10.pt")
    assert Path(path).read_bytes() == data
    assert Path(CheckpointDownloader(client).download("checkpoints/epoch-10.pt", url, dest=tmp_path / "copy.pt")).read_bytes() == data
    client.close()
