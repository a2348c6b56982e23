"""Background uploads, and the upload/download helpers of scripts that move checkpoints to S3."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from .client import Client
from .results import PullResult, PushResult


class BackgroundUploader:
    """Uploads files on worker threads while training goes on.

    ``upload_file`` returns at once; ``wait`` blocks until everything queued so far is uploaded and
    raises the first failure; ``close`` waits, then stops the workers and the ckptsync process. A
    file is pushed under its remote file name whatever its local path; uploading a name again moves
    the name, and the old version stays in its history. The file must not change until its upload
    finished (write a new file per checkpoint, as :class:`Checkpointer` does). The uploader's own
    ckptsync process runs at ``nice`` 10 (``nice=None``: normal priority).
    """

    def __init__(self, remote: str | None, workers: int = 1, *, client: Client | None = None, nice: int | None = 10) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._own_client = client is None
        # Its own ckptsync process, at a lower CPU priority: hashing and copying must not slow the training loop.
        self.client = client or Client(remote=remote, nice=nice)
        self.remote = remote
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ckptsync-upload")
        self._lock = threading.Lock()
        self._pending: list[Future[Any]] = []
        self._last_by_name: dict[str, Future[Any]] = {}
        self._closed = False

    def upload_file(self, remote_file_name: str, file_path: str | os.PathLike[str]) -> Future[Any]:
        """Queues ``file_path`` to be pushed as ``remote_file_name``; returns without waiting."""
        path = os.path.abspath(file_path)
        return self._submit(remote_file_name, lambda: self.client.push(path, remote_file_name, remote=self.remote, force=True, progress=False))

    def after_upload(self, remote_file_name: str, fn: Callable[[], object]) -> Future[Any]:
        """Queues ``fn`` to run once the last queued upload of ``remote_file_name`` has finished (or failed)."""
        with self._lock:
            before = self._last_by_name.get(remote_file_name)

        def task() -> object:
            if before is not None:
                before.exception()  # waits; its failure is reported by wait() on its own future
            return fn()

        return self._submit(None, task)

    def _submit(self, name: str | None, fn: Callable[[], object]) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("this BackgroundUploader is closed")
            fut = self._pool.submit(fn)
            self._pending.append(fut)
            if name is not None:
                self._last_by_name[name] = fut
            return fut

    def wait(self) -> None:
        """Blocks until the queue is empty; raises the first failure among the tasks it waited for."""
        with self._lock:
            pending, self._pending = self._pending, []
        first: BaseException | None = None
        for f in pending:
            e = f.exception()
            if e is not None and first is None:
                first = e
        if first is not None:
            raise first

    def close(self) -> None:
        """Waits for the queue, then stops the workers (and this uploader's ckptsync process)."""
        try:
            self.wait()
        finally:
            with self._lock:
                self._closed = True
            self._pool.shutdown(wait=True)
            if self._own_client:
                self.client.close()

    def __enter__(self) -> BackgroundUploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _name_of(checkpoint_path: str) -> str:
    return os.path.normpath(checkpoint_path).replace(os.sep, "/").lstrip("/")


class CheckpointUploader:
    """``upload_to_s3(bucket, path)``: the checkpoint path is the name, the bucket the remote."""

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()

    def upload_to_s3(self, bucket_name: str, checkpoint_path: str) -> PushResult:
        return self.upload(checkpoint_path, _name_of(checkpoint_path), f"s3://{bucket_name}")

    def upload(self, checkpoint_path: str, name: str, remote: str) -> PushResult:
        return self.client.push(checkpoint_path, name, remote=remote)

    def upload_to_wandb(self, run_id: str, checkpoint_path: str, remote: str | None = None, project: str | None = None) -> object:
        """Pushes the checkpoint (to ``remote``, default the client's) and logs it as a model artifact of the W&B
        run ``run_id`` (``ckptsync.wandb.upload_to_wandb``; needs the wandb package)."""
        from .wandb import upload_to_wandb

        return upload_to_wandb(run_id, checkpoint_path, name=_name_of(checkpoint_path), project=project, remote=remote or self.client.remote, client=self.client)


class CheckpointDownloader:
    """``download_from_s3(bucket, path)``: fetches the name ``path`` from the bucket and writes it at ``path``."""

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()

    def download_from_s3(self, bucket_name: str, checkpoint_path: str) -> str:
        return self.download(_name_of(checkpoint_path), f"s3://{bucket_name}", dest=checkpoint_path)

    def download_from_wandb(self, run_id: str, remote: str | None = None, project: str | None = None) -> str:
        """The local path of the newest model artifact the W&B run ``run_id`` logged (``ckptsync.wandb``; needs a
        W&B server and the wandb package)."""
        from .wandb import download_from_wandb

        return download_from_wandb(run_id, project=project, remote=remote or self.client.remote, client=self.client)

    def download(self, name: str, remote: str, dest: str | os.PathLike[str] | None = None) -> str:
        """Writes the checkpoint ``name`` to ``dest`` (default: its last part in the current directory); returns the path."""
        r: PullResult = self.client.pull(name, dest if dest is not None else os.path.basename(name), remote=remote)
        return r.path or os.path.abspath(os.fspath(dest or os.path.basename(name)))
