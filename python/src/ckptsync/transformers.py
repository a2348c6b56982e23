"""Hugging Face transformers: a ``TrainerCallback`` that pushes each ``checkpoint-{step}`` directory.

``Trainer(..., callbacks=[CkptsyncCallback("s3://bucket/ckpts")])``: after each save, the main process
pushes ``output_dir/checkpoint-{step}`` (model shards, optimizer, scheduler, RNG state, trainer_state.json)
as one name, ``prefix`` + ``checkpoint-{step}``, in the background, and removes the names of checkpoints
that ``save_total_limit`` rotated away. ``trainer.train(resume_from_checkpoint=resume_from(name))`` resumes
from a name, on any machine.

Importing this module imports transformers; importing ``ckptsync`` does not.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from transformers import TrainerCallback

from ._staged import StagedUploader, UploadFigures
from .client import Client

__all__ = ["CkptsyncCallback", "resume_from"]

_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")


class CkptsyncCallback(UploadFigures, TrainerCallback):
    """Pushes every checkpoint the Trainer saves to ``remote`` as ``prefix`` + ``checkpoint-{step}``.

    ``prefix`` defaults to the output directory's last part and a slash (``out/checkpoint-500``). The
    directory is hard-linked into a staging directory first, so the Trainer may rotate it away while it
    uploads. ``uploads`` lists the finished uploads; ``on_save_seconds`` adds up the time ``on_save`` took
    in the training loop, ``waited_seconds`` the time ``on_train_end`` waited for the queue.
    """

    def __init__(self, remote: str | None, prefix: str | None = None, *, client: Client | None = None) -> None:
        self.remote = remote
        self.prefix = prefix
        self._uploader = StagedUploader(remote, client=client)
        self.client = self._uploader.client
        self.on_save_seconds = 0.0

    def _prefix(self, args: Any) -> str:
        return self.prefix if self.prefix is not None else os.path.basename(os.path.abspath(args.output_dir)) + "/"

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        start = time.perf_counter()
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):
            name = self._prefix(args) + os.path.basename(folder)
            self._uploader.upload(name, folder)
            if args.save_total_limit is not None:
                # After this upload, in the queue: the Trainer rotated its old directories before calling us.
                self._uploader.after(name, lambda: self._prune(args))
        self.on_save_seconds += time.perf_counter() - start

    def _prune(self, args: Any) -> None:
        prefix = self._prefix(args)
        for name in self.client.names(prefix, remote=self.remote):
            rest = name[len(prefix):]
            if _CHECKPOINT.match(rest) and not os.path.isdir(os.path.join(args.output_dir, rest)):
                self.client.remove(name, remote=self.remote)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Waits until every checkpoint is on the remote (raises the first failed upload)."""
        if state.is_world_process_zero:
            self._uploader.wait()


    def close(self) -> None:
        self._uploader.close()


def resume_from(name: str, remote: str | None = None, *, client: Client | None = None) -> str:
    """A local directory holding the checkpoint ``name``, resolved once into the shared cache, for
    ``trainer.train(resume_from_checkpoint=...)``."""
    c = client or Client(remote=remote)
    try:
        return c.resolve(name, remote=remote).path
    finally:
        if client is None:
            c.close()
