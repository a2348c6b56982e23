"""ckptsync.lightning: real Lightning fits of a tiny model on the CPU, checkpoints on a local remote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import AsyncCheckpointIO

from ckptsync import Client
from ckptsync.lightning import CkptsyncCheckpointIO
from conftest import child_env, init_repo
from lightning_app import BATCHES_PER_EPOCH, LitRegressor, StartRecorder, trainer
from tiny_models import FROZEN_BYTES, tensor_digest

APP = Path(__file__).resolve().parent / "lightning_app.py"


def kept_by_lightning(cb: ModelCheckpoint) -> set[str]:
    return {os.path.basename(p) for p in cb.best_k_models} | {os.path.basename(cb.last_model_path)}


@pytest.mark.parametrize(("wrap", "kind"), [("plain", "local"), ("async", "local"), ("plain", "s3")])
def test_fit_keeps_exactly_lightnings_checkpoints_on_the_remote_and_a_fresh_process_resumes_by_name(tmp_path: Path, request: pytest.FixtureRequest, wrap: str, kind: str) -> None:
    if kind == "s3":  # the tests' S3 server on 127.0.0.1
        server = request.getfixturevalue("s3")
        local_remote, env = server.new_url(), dict(server.env)
    else:
        local_remote, env = str(tmp_path / "remote"), {}
    torch.manual_seed(0)
    io = CkptsyncCheckpointIO(local_remote, prefix="run1/", client=Client(remote=local_remote, env=env, nice=10))
    cb = ModelCheckpoint(dirpath=tmp_path / "ckpts", monitor="train_loss", save_top_k=2, save_last=True)
    plugin = AsyncCheckpointIO(io) if wrap == "async" else io
    trainer(3, plugins=[plugin], callbacks=[cb]).fit(LitRegressor())  # Lightning's teardown waits for the uploads
    if wrap == "async":
        io.teardown()  # AsyncCheckpointIO's teardown stops its own thread but does not pass teardown on

    kept = kept_by_lightning(cb)
    assert len(kept) == 3  # two best and last.ckpt
    assert "epoch=0-step=4.ckpt" not in kept  # the loss fell: the third save pushed the first out
    assert set(os.listdir(tmp_path / "ckpts")) >= kept
    assert set(Client(env=env).names("run1/", remote=local_remote)) == {"run1/" + k for k in kept}

    # Three epochs: three epoch checkpoints and three last.ckpt, each uploaded in the background.
    ups = io.uploads
    assert sorted(u.name for u in ups) == sorted(["run1/last.ckpt"] * 3 + [f"run1/epoch={e}-step={(e + 1) * BATCHES_PER_EPOCH}.ckpt" for e in range(3)])
    first, *following = [u for u in ups if "epoch=" in u.name]
    assert first.result.bytes_uploaded >= FROZEN_BYTES
    for u in following:  # the frozen backbone's chunks are on the remote already
        assert u.result.bytes_already_there >= FROZEN_BYTES
        assert u.result.bytes_uploaded < u.result.bytes_total - FROZEN_BYTES + (1 << 20)
    print(f"\nlightning[{wrap}, {kind}] per save:", [(u.name, u.result.bytes_total, u.result.bytes_uploaded, round(u.seconds, 3)) for u in ups])
    print(f"lightning[{wrap}, {kind}] save_checkpoint (serialize+write) {io.write_seconds:.3f} s in all; waited for uploads at teardown {io.waited_seconds:.3f} s")

    # A fresh process, in an empty directory with an empty cache, resumes from last.ckpt by name.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    out = subprocess.run([sys.executable, str(APP), "resume", local_remote, "run1/", "5"], cwd=fresh, env={**child_env(tmp_path / "cache2"), **env}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    saved = torch.load(tmp_path / "ckpts" / "last.ckpt", map_location="cpu", weights_only=False)
    assert got["first_epoch"] == 3
    assert got["start_step"] == 3 * BATCHES_PER_EPOCH
    assert got["head_digest"] == tensor_digest(saved["state_dict"]["net.head.weight"])
    io.close()


def test_fsspec_route_saves_names_and_resumes_from_a_ckptsync_url(tmp_path: Path, local_remote: str) -> None:
    repo = init_repo(tmp_path / "repo", {"origin": local_remote})
    os.chdir(repo)  # ckptsync://origin/... names a remote of the repository around the working directory
    torch.manual_seed(0)
    cb = ModelCheckpoint(dirpath="ckptsync://origin/run1", monitor="train_loss", save_top_k=2, save_last=True)
    trainer(3, callbacks=[cb]).fit(LitRegressor())
    kept = kept_by_lightning(cb)
    assert len(kept) == 3
    assert set(Client().names("run1/", remote=local_remote)) == {"run1/" + k for k in kept}

    rec = StartRecorder()
    trainer(4, callbacks=[rec], enable_checkpointing=False).fit(LitRegressor(), ckpt_path="ckptsync://origin/run1/last.ckpt")
    assert rec.first_epoch == 3
    assert rec.start_step == 3 * BATCHES_PER_EPOCH
