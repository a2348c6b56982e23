"""PyTorch Lightning: a ``CheckpointIO`` that puts every checkpoint on a ckptsync remote.

``Trainer(plugins=[CkptsyncCheckpointIO("s3://bucket/ckpts", prefix="run1/")])``: each checkpoint that
``ModelCheckpoint`` writes is saved locally as Lightning would (temp file, then rename) and pushed in the
background as ``prefix`` + its file name (``run1/epoch=2-step=30.ckpt``, ``run1/last.ckpt``); a checkpoint
Lightning removes (``save_top_k``) loses its name on the remote too. ``load_checkpoint`` of a path that is
not on disk resolves the name through the shared cache, so ``trainer.fit(ckpt_path="last.ckpt")`` resumes
in a fresh process or machine. Works wrapped in Lightning's ``AsyncCheckpointIO`` as well.

Importing this module imports Lightning (``lightning``, else ``pytorch_lightning``'s ``lightning_fabric``);
importing ``ckptsync`` does not.
"""

from __future__ import annotations

import os
import time
from typing import Any, Optional

import torch

try:
    from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
    from lightning.fabric.utilities.cloud_io import _load as pl_load
except ImportError:  # the standalone pytorch_lightning package
    from lightning_fabric.plugins.io.checkpoint_io import CheckpointIO  # type: ignore[no-redef]
    from lightning_fabric.utilities.cloud_io import _load as pl_load  # type: ignore[no-redef]

from ._staged import StagedUploader, UploadFigures, write_atomic
from .client import Client

__all__ = ["CkptsyncCheckpointIO"]


class CkptsyncCheckpointIO(UploadFigures, CheckpointIO):
    """Saves checkpoints locally and pushes each to ``remote`` as ``prefix`` + its file name, in the background.

    ``local_dir``: where the local copies go (default: the path Lightning asks for, i.e. ``ModelCheckpoint``'s
    ``dirpath``). ``client``: a :class:`~ckptsync.Client` to use (default: one of its own, at ``nice`` 10).
    ``uploads`` lists the finished uploads (name, bytes uploaded, seconds); ``write_seconds`` the time
    ``save_checkpoint`` spent serializing and writing; ``waited_seconds`` the time ``teardown`` waited.
    """

    def __init__(self, remote: str | None, prefix: str = "", local_dir: str | os.PathLike[str] | None = None, *, client: Client | None = None) -> None:
        self.remote = remote
        self.prefix = prefix
        self.local_dir = os.path.abspath(local_dir) if local_dir is not None else None
        self._uploader = StagedUploader(remote, client=client)
        self.client = self._uploader.client
        self.write_seconds = 0.0

    # -- names ----------------------------------------------------------------------------------------

    def name_for(self, path: Any) -> str:
        """The remote name of a checkpoint path: ``prefix`` + its file name."""
        # "last.ckpt", "/ckpts/last.ckpt" and "run1/last.ckpt" (prefix "run1/") all name run1/last.ckpt.
        return self.prefix + os.path.basename(os.fspath(path))

    def _local_path(self, path: Any) -> str:
        p = os.fspath(path)
        if "://" in p:
            raise ValueError(f"CkptsyncCheckpointIO writes local files, not {p!r}: give ModelCheckpoint a local dirpath (or use the ckptsync:// file system without this plugin)")
        return os.path.join(self.local_dir, os.path.basename(p)) if self.local_dir is not None else os.path.abspath(p)

    # -- CheckpointIO ---------------------------------------------------------------------------------

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError(f"`Trainer.save_checkpoint(..., storage_options=...)` is not supported by `{type(self).__name__}`")
        start = time.perf_counter()
        local = self._local_path(path)
        write_atomic(local, lambda tmp: torch.save(checkpoint, tmp))
        self._uploader.upload(self.name_for(path), local)
        self.write_seconds += time.perf_counter() - start

    def load_checkpoint(self, path: Any, map_location: Optional[Any] = None, weights_only: Optional[bool] = None) -> dict[str, Any]:
        """Loads ``path`` from disk, or else the remote name for it, resolved once into the shared cache."""
        p = os.fspath(path)
        local = p if os.path.exists(p) else self.client.resolve(self.name_for(p), remote=self.remote).path
        return pl_load(local, map_location=map_location, weights_only=weights_only)

    def remove_checkpoint(self, path: Any) -> None:
        local = self._local_path(path)
        if os.path.exists(local):
            os.remove(local)
        # After this name's queued upload: removing first would let that upload bring the name back.
        self._uploader.remove(self.name_for(path))

    def teardown(self) -> None:
        """Waits for the queued uploads and removals (Lightning calls this at the end of fit); raises their first failure."""
        self._uploader.wait()

    # -- results --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Waits for the uploads, then stops the upload thread and its ckptsync process."""
        self._uploader.close()
