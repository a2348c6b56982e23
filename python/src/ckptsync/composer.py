"""MosaicML Composer: a ``LoggerDestination`` that uploads to a ckptsync remote, and an ``ObjectStore`` over it.

``Trainer(loggers=[CkptsyncLoggerDestination("s3://bucket/ckpts")], save_folder="{run_name}/checkpoints",
save_interval="1ep")``: every file Composer uploads (checkpoints, the ``latest-rank0.pt.symlink`` file, logs,
``trainer.logger.upload_file(...)``) becomes a name, its remote file name, pushed in the background.
``Trainer(load_path="run1/checkpoints/latest-rank0.pt", load_object_store=CkptsyncObjectStore(remote))``
loads by name (Composer follows the ``.symlink`` name itself).

Importing this module imports Composer; importing ``ckptsync`` does not.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import time
from typing import Any, Callable, Optional, Union

from composer.loggers.logger_destination import LoggerDestination
from composer.utils.object_store.object_store import ObjectStore, ObjectStoreTransientError

from ._staged import StagedUploader, UploadFigures, write_atomic
from .client import Client
from .errors import NotFoundError, TransientError
from .results import Progress

__all__ = ["CkptsyncLoggerDestination", "CkptsyncObjectStore"]


def _copy_out(client: Client, remote: str | None, name: str, destination: str, overwrite: bool, progress: Any = False) -> None:
    """Writes the checkpoint ``name`` at ``destination`` (resolved through the shared cache; temp file, then rename)."""
    if os.path.exists(destination) and not overwrite:
        raise FileExistsError(f"{destination} exists (pass overwrite=True to replace it)")
    try:
        src = client.resolve(name, remote=remote, progress=progress).path
    except NotFoundError as e:
        raise FileNotFoundError(str(e)) from None  # Composer tries the .symlink name on FileNotFoundError
    except TransientError as e:
        raise ObjectStoreTransientError(str(e)) from e
    write_atomic(destination, lambda tmp: shutil.copyfile(src, tmp))


class CkptsyncLoggerDestination(UploadFigures, LoggerDestination):
    """Pushes each file Composer uploads as the name ``remote_file_name``, in the background.

    ``upload_file`` copies the file to a staging directory and returns (Composer may change or delete the
    file as soon as it returns); one worker pushes the copies in order. A name that exists is an error unless
    ``overwrite`` (raised at the next ``close``). ``uploads`` lists the finished uploads; ``upload_file_seconds``
    adds up the time ``upload_file`` took in the training loop (the copy), ``waited_seconds`` the time
    ``close`` waited for the queue.
    """

    def __init__(self, remote: str | None, *, client: Client | None = None, staging_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.remote = remote
        self._own_staging = staging_dir is None
        self._staging = os.fspath(staging_dir) if staging_dir is not None else tempfile.mkdtemp(prefix="ckptsync-composer-")
        self._uploader = StagedUploader(remote, client=client, staging_dir=self._staging, copy=True)
        self.client = self._uploader.client
        self.upload_file_seconds = 0.0

    def can_upload_files(self) -> bool:
        return True

    def upload_file(self, state: Any, remote_file_name: str, file_path: pathlib.Path, *, overwrite: bool) -> None:
        start = time.perf_counter()
        check = None if overwrite else (lambda name: name in self.client.names(name, remote=self.remote))
        self._uploader.upload(remote_file_name, os.fspath(file_path), refuse_existing=check)
        self.upload_file_seconds += time.perf_counter() - start

    def download_file(self, remote_file_name: str, destination: str, overwrite: bool = False, progress_bar: bool = True) -> None:
        _copy_out(self.client, self.remote, remote_file_name, destination, overwrite, progress=None if progress_bar else False)

    def close(self, state: Any, logger: Any) -> None:
        """Waits for the queued uploads (Composer calls this from ``trainer.close()``); raises their first failure."""
        self._uploader.wait()

    def post_close(self) -> None:
        self._uploader.close()
        if self._own_staging:
            shutil.rmtree(self._staging, ignore_errors=True)


class CkptsyncObjectStore(ObjectStore):
    """Composer's ``ObjectStore`` over a ckptsync remote: objects are names, downloads go through the shared cache.

    Transient failures (network, server) raise Composer's ``ObjectStoreTransientError``, which Composer retries;
    a missing name raises ``FileNotFoundError``.
    """

    def __init__(self, remote: str | None, *, client: Client | None = None) -> None:
        self.remote = remote
        self._own_client = client is None
        self.client = client or Client(remote=remote)

    def get_uri(self, object_name: str) -> str:
        # A configured remote's name makes a ckptsync:// URL (the fsspec file system opens it); a URL or
        # path is shown as the remote followed by the name.
        r = self.remote or "default"
        if "://" not in r and not os.path.isabs(r):
            return f"ckptsync://{r}/{object_name}"
        return f"{r.rstrip('/')}#{object_name}"

    def upload_object(self, object_name: str, filename: Union[str, pathlib.Path], callback: Optional[Callable[[int, int], None]] = None, **kwargs: Any) -> None:
        def progress(p: Progress) -> None:
            if callback is not None:
                callback(p.bytes_moved, p.bytes_to_move)

        try:
            self.client.push(os.fspath(filename), object_name, remote=self.remote, force=True, progress=progress if callback else False)
        except TransientError as e:
            raise ObjectStoreTransientError(str(e)) from e

    def get_object_size(self, object_name: str) -> int:
        try:
            return self.client.describe(object_name, remote=self.remote).bytes
        except NotFoundError as e:
            raise FileNotFoundError(str(e)) from None
        except TransientError as e:
            raise ObjectStoreTransientError(str(e)) from e

    def download_object(self, object_name: str, filename: Union[str, pathlib.Path], overwrite: bool = False, callback: Optional[Callable[[int, int], None]] = None) -> None:
        def progress(p: Progress) -> None:
            if callback is not None:
                callback(p.bytes_moved, p.bytes_to_move)

        _copy_out(self.client, self.remote, object_name, os.fspath(filename), overwrite, progress=progress if callback else False)

    def list_objects(self, prefix: Optional[str] = None) -> list[str]:
        try:
            return self.client.names(prefix or "", remote=self.remote)
        except TransientError as e:
            raise ObjectStoreTransientError(str(e)) from e

    def close(self) -> None:
        if self._own_client:
            self.client.close()
