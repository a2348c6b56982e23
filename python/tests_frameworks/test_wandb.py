"""ckptsync.wandb with the real wandb package in offline mode (no W&B server here)."""

from __future__ import annotations

import glob
import json
import shutil
import struct
from pathlib import Path
from typing import Iterator

import pytest
import torch

import wandb
from ckptsync import Client
from ckptsync.wandb import log_checkpoint, pointer_text, redact_remote, use_checkpoint
from tiny_models import Regressor, dataset


def run_file_records(path: str) -> Iterator[bytes]:
    """The records of a W&B run file (.wandb): a 7-byte header (":W&B", ...), then LevelDB-log records
    (crc32, length, type; full, first, middle or last fragments) in 32 KiB blocks."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    block, pos, buf = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        frag = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            yield frag
        elif kind == 2:
            buf = frag
        elif kind == 3:
            buf += frag
        elif kind == 4:
            yield buf + frag


@pytest.fixture
def offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var, sub in {"WANDB_DIR": "wb", "WANDB_DATA_DIR": "wb-data", "WANDB_CACHE_DIR": "wb-cache", "WANDB_CONFIG_DIR": "wb-config"}.items():
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    yield tmp_path / "wb"
    wandb.teardown()  # wandb reads its environment once per process: the next test's directories are new


def test_redact_remote_drops_credentials() -> None:
    assert redact_remote("s3://AKIA:s3cret@127.0.0.1:9000/bucket/ckpts?sig=abc") == "s3://127.0.0.1:9000/bucket/ckpts"
    assert redact_remote("origin") == "origin"


def test_logged_artifact_holds_pointer_and_metadata_and_use_checkpoint_gives_identical_bytes(tmp_path: Path, local_remote: str, offline_wandb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = Regressor()
    opt = torch.optim.Adam(model.head.parameters(), lr=0.01)
    for x, y in torch.utils.data.DataLoader(dataset(16), batch_size=8):  # a few real steps
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    ckpt = tmp_path / "model-step-2.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)

    run = wandb.init(project="ckptsync-test", dir=str(offline_wandb))
    log_checkpoint(run, ckpt, name="run1/model-step-2.pt", aliases=["latest", "step-2"], remote=local_remote)
    run.finish()
    wandb.teardown()  # finish() may return before W&B's service has written the run file out
    snap = Client().describe("run1/model-step-2.pt", remote=local_remote)

    # The artifact, as the offline run recorded it: read back from the run file with W&B's own protobufs.
    from wandb.proto import wandb_internal_pb2 as pb

    (run_file,) = glob.glob(str(offline_wandb / "wandb" / "offline-run-*" / "run-*.wandb"))
    arts = []
    for raw in run_file_records(run_file):
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "artifact":
            arts.append(rec.artifact)
    (art,) = arts
    assert art.type == "model" and art.name == "run1-model-step-2.pt"
    assert {"latest", "step-2"} <= set(art.aliases)
    assert json.loads(art.metadata) == {"ckptsync": {"remote": local_remote, "name": "run1/model-step-2.pt", "manifest": snap.manifest, "size": ckpt.stat().st_size}}
    (entry,) = art.manifest.contents
    assert entry.path == "model-step-2.pt.ckpt"
    staged = Path(entry.local_path).read_text()
    assert staged == pointer_text(snap.manifest, ckpt.stat().st_size, "run1/model-step-2.pt")

    # The directory an artifact downloads to holds its files; from it, a fresh cache gets the same bytes.
    art_dir = tmp_path / "artifacts" / "run1-model-step-2.pt:v0"
    art_dir.mkdir(parents=True)
    shutil.copy(entry.local_path, art_dir / entry.path)
    monkeypatch.setenv("CKPTSYNC_CACHE", str(tmp_path / "cache2"))
    path = use_checkpoint(art_dir, remote=local_remote)
    assert Path(path).read_bytes() == ckpt.read_bytes()
    assert str(tmp_path / "cache2") in path


def test_checkpoint_uploader_logs_to_a_wandb_run_by_id(tmp_path: Path, local_remote: str, offline_wandb: Path) -> None:
    from ckptsync import CheckpointUploader

    ckpt = tmp_path / "ckpts" / "epoch-1.pt"
    ckpt.parent.mkdir()
    torch.save(Regressor().state_dict(), ckpt)
    art = CheckpointUploader(Client(remote=local_remote)).upload_to_wandb("run42", "ckpts/epoch-1.pt")
    assert art.metadata["ckptsync"]["name"] == "ckpts/epoch-1.pt"
    wandb.teardown()  # finish() may return before W&B's service has written the run file out
    (run_file,) = glob.glob(str(offline_wandb / "wandb" / "offline-run-*-run42" / "run-run42.wandb"))
    from wandb.proto import wandb_internal_pb2 as pb

    names, kinds = [], []
    for raw in run_file_records(run_file):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kinds.append(rec.WhichOneof("record_type"))
        if kinds[-1] == "artifact":
            names.append((rec.artifact.name, list(rec.artifact.aliases)))
    assert names == [("ckpts-epoch-1.pt", ["latest"])], kinds
    assert Client().describe("ckpts/epoch-1.pt", remote=local_remote).bytes == ckpt.stat().st_size
