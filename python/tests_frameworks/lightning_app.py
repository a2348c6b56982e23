"""The Lightning side of the tests: a LightningModule over tiny_models.Regressor, and a fresh process's resume
(``python lightning_app.py resume REMOTE PREFIX MAX_EPOCHS``), which prints what it resumed from as JSON."""

from __future__ import annotations

import json
import sys

import lightning as L
import torch
from torch.utils.data import DataLoader

from tiny_models import Regressor, dataset, tensor_digest

BATCHES_PER_EPOCH = 4


class LitRegressor(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = Regressor()

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.Adam(self.net.head.parameters(), lr=0.01)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(dataset(8 * BATCHES_PER_EPOCH), batch_size=8)


class StartRecorder(L.Callback):
    """Records where training (re)started: the first epoch run, the step count then, the head's weights."""

    def __init__(self) -> None:
        self.first_epoch: int | None = None
        self.start_step: int | None = None
        self.head_digest: str | None = None

    def on_train_epoch_start(self, trainer, pl_module):  # type: ignore[no-untyped-def]
        if self.first_epoch is None:
            self.first_epoch = trainer.current_epoch
            self.start_step = trainer.global_step
            self.head_digest = tensor_digest(pl_module.net.head.weight)


def trainer(max_epochs: int, **kwargs) -> L.Trainer:  # type: ignore[no-untyped-def]
    return L.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, **kwargs)


def resume(remote: str, prefix: str, max_epochs: int) -> None:
    from ckptsync.lightning import CkptsyncCheckpointIO

    rec = StartRecorder()
    io = CkptsyncCheckpointIO(remote, prefix=prefix)
    trainer(max_epochs, plugins=[io], callbacks=[rec], enable_checkpointing=False).fit(LitRegressor(), ckpt_path="last.ckpt")
    io.close()
    print(json.dumps({"first_epoch": rec.first_epoch, "start_step": rec.start_step, "head_digest": rec.head_digest}))


if __name__ == "__main__":
    if sys.argv[1] == "resume":
        resume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
