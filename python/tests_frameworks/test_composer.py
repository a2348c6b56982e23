"""ckptsync.composer: real Composer trainings of a tiny model on the CPU, checkpoints on a local remote."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from composer import Trainer
from composer.models import ComposerModel
from composer.utils.object_store.object_store import ObjectStore
from composer.loggers.logger_destination import LoggerDestination
from torch.utils.data import DataLoader

from ckptsync import Client
from ckptsync.composer import CkptsyncLoggerDestination, CkptsyncObjectStore
from tiny_models import FROZEN_BYTES, Regressor, dataset, tensor_digest

BATCHES_PER_EPOCH = 4


class TinyComposer(ComposerModel):
    def __init__(self) -> None:
        super().__init__()
        self.net = Regressor()

    def forward(self, batch):  # type: ignore[no-untyped-def]
        return self.net(batch[0])

    def loss(self, outputs, batch):  # type: ignore[no-untyped-def]
        return torch.nn.functional.mse_loss(outputs, batch[1])


def make_trainer(model: TinyComposer, max_duration: str, **kwargs) -> Trainer:  # type: ignore[no-untyped-def]
    return Trainer(
        model=model,
        train_dataloader=DataLoader(dataset(8 * BATCHES_PER_EPOCH), batch_size=8),
        optimizers=torch.optim.Adam(model.net.head.parameters(), lr=0.01),
        max_duration=max_duration,
        device="cpu",
        run_name="run1",
        progress_bar=False,
        **kwargs,
    )


def test_classes_are_composers_own() -> None:
    assert issubclass(CkptsyncLoggerDestination, LoggerDestination)
    assert issubclass(CkptsyncObjectStore, ObjectStore)


def test_checkpoint_per_epoch_becomes_names_and_a_second_trainer_resumes_through_the_object_store(tmp_path: Path, local_remote: str) -> None:
    torch.manual_seed(0)
    dest = CkptsyncLoggerDestination(local_remote)
    model = TinyComposer()
    trainer = make_trainer(model, "2ep", loggers=[dest], save_folder="{run_name}/checkpoints", save_filename="ep{epoch}.pt", save_interval="1ep")
    trainer.fit()
    hparams = tmp_path / "hparams.yaml"
    hparams.write_text("lr: 0.01\n")
    trainer.logger.upload_file(remote_file_name="run1/hparams.yaml", file_path=hparams, overwrite=True)
    trainer.close()  # waits for the background uploads

    names = set(Client().names("run1/", remote=local_remote))
    assert {"run1/checkpoints/ep1.pt", "run1/checkpoints/ep2.pt", "run1/checkpoints/latest-rank0.pt.symlink", "run1/hparams.yaml"} <= names
    ckpts = [u for u in dest.uploads if u.name.endswith(".pt")]
    assert [u.name for u in ckpts] == ["run1/checkpoints/ep1.pt", "run1/checkpoints/ep2.pt"]
    assert ckpts[0].result.bytes_uploaded >= FROZEN_BYTES
    assert ckpts[1].result.bytes_already_there >= FROZEN_BYTES  # the frozen backbone is not sent again
    print("\ncomposer per save:", [(u.name, u.result.bytes_total, u.result.bytes_uploaded, round(u.seconds, 3)) for u in dest.uploads])
    print(f"composer upload_file in the loop {dest.upload_file_seconds:.3f} s in all; close waited {dest.waited_seconds:.3f} s")

    # A second Trainer, elsewhere with an empty cache, loads the latest checkpoint by name and goes on.
    saved = torch.load(tmp_path / "run1" / "checkpoints" / "ep2.pt", map_location="cpu", weights_only=False)
    other = tmp_path / "other"
    other.mkdir()
    store = CkptsyncObjectStore(local_remote)
    model2 = TinyComposer()
    trainer2 = make_trainer(model2, "3ep", load_path="run1/checkpoints/latest-rank0.pt", load_object_store=store, save_folder=str(other / "ckpts"))
    assert int(trainer2.state.timestamp.epoch) == 2
    assert int(trainer2.state.timestamp.batch) == 2 * BATCHES_PER_EPOCH
    assert tensor_digest(model2.net.head.weight) == tensor_digest(saved["state"]["model"]["net.head.weight"])
    trainer2.fit()
    assert int(trainer2.state.timestamp.epoch) == 3
    trainer2.close()


def test_object_store_answers_like_composers_own(tmp_path: Path, local_remote: str) -> None:
    store = CkptsyncObjectStore(local_remote)
    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 5000)
    seen: list[tuple[int, int]] = []
    store.upload_object("dir/a.bin", src, callback=lambda n, t: seen.append((n, t)))
    assert store.get_object_size("dir/a.bin") == 5000
    assert store.list_objects("dir/") == ["dir/a.bin"]
    store.download_object("dir/a.bin", tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == src.read_bytes()
    with pytest.raises(FileExistsError):
        store.download_object("dir/a.bin", tmp_path / "b.bin")
    with pytest.raises(FileNotFoundError):
        store.get_object_size("dir/missing.bin")
    with pytest.raises(FileNotFoundError):
        store.download_object("dir/missing.bin", tmp_path / "c.bin")
    assert not (tmp_path / "c.bin").exists()
    store.close()
