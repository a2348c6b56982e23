"""Staged background uploads for the framework integrations.

A trainer overwrites ``last.ckpt`` and deletes rotated checkpoints while an earlier upload may still be
reading them. So each save is first hard-linked into a staging directory (a file: one link; a directory:
a tree of links) and the upload reads the links, which nobody else writes or deletes: the trainer's own
files stay free to change, and no bytes are copied. The links go once the upload is done.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

from .client import Client
from .results import PushResult
from .uploader import BackgroundUploader


@dataclass(frozen=True)
class UploadRecord:
    """One finished upload: the name, what moved, and how long the push took on its worker thread."""

    name: str
    result: PushResult
    seconds: float


def write_atomic(dest: str, write: Callable[[str], object]) -> None:
    """Writes ``dest`` through ``write(tmp)`` into a temp file beside it, renamed into place: a reader (or a
    staged upload of the previous version) never sees half a file, and a failure leaves no temp file."""
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class UploadFigures:
    """What every integration reports of its :class:`StagedUploader` (``self._uploader``)."""

    _uploader: StagedUploader

    @property
    def uploads(self) -> list[UploadRecord]:
        """The finished uploads, in order."""
        return list(self._uploader.uploads)

    @property
    def waited_seconds(self) -> float:
        """The time callers spent blocked waiting for uploads."""
        return self._uploader.waited_seconds


class StagedUploader:
    """A :class:`BackgroundUploader` that uploads hard-linked snapshots of files and directories.

    ``uploads`` lists the finished uploads in order; ``waited_seconds`` adds up the time callers spent
    blocked in :meth:`wait` (the time a training loop waited for uploads).
    """

    def __init__(self, remote: str | None, *, client: Client | None = None, staging_dir: str | None = None, nice: int | None = 10, copy: bool = False) -> None:
        # One worker: uploads and removals of a name then run in the order they were asked for.
        self.uploader = BackgroundUploader(remote, 1, client=client, nice=nice)
        self.client = self.uploader.client
        self.remote = remote
        self._staging_dir = staging_dir
        # copy: a real copy, for callers whose files may be rewritten in place after they hand them over.
        self._copy = copy
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._stage_lock = threading.Lock()
        self.uploads: list[UploadRecord] = []
        self.waited_seconds = 0.0

    def _stage_root(self, near: str) -> str:
        # Same file system as the source (hard links cannot cross one); hidden, so trainers that list
        # their output directory for checkpoints never see it.
        root = self._staging_dir or os.path.join(os.path.dirname(os.path.abspath(near)), ".ckptsync-staging")
        os.makedirs(root, exist_ok=True)
        return root

    def stage(self, path: str) -> str:
        """A hard-linked snapshot of ``path`` (file or directory) that only this uploader touches."""
        with self._stage_lock:  # the worker removes the root when it empties: not between these two steps
            root = self._stage_root(path)
            dest = os.path.join(tempfile.mkdtemp(prefix=f"{next(self._seq)}-", dir=root), os.path.basename(path.rstrip(os.sep)))
        fn = shutil.copy2 if self._copy else _link_or_copy
        if os.path.isdir(path):
            shutil.copytree(path, dest, copy_function=fn)
        else:
            fn(path, dest)
        return dest

    def upload(self, name: str, path: str, refuse_existing: Callable[[str], bool] | None = None) -> Future:
        """Stages ``path`` now and pushes it as ``name`` in the background; returns at once. With
        ``refuse_existing``, the upload fails with FileExistsError when it says the name exists."""
        staged = self.stage(path)

        def task() -> PushResult:
            start = time.perf_counter()
            try:
                if refuse_existing is not None and refuse_existing(name):
                    raise FileExistsError(f"{name} exists on the remote (pass overwrite=True to replace it)")
                r = self.client.push(staged, name, remote=self.remote, force=True, progress=False)
            finally:
                shutil.rmtree(os.path.dirname(staged), ignore_errors=True)
                with self._stage_lock:
                    try:
                        os.rmdir(os.path.dirname(os.path.dirname(staged)))  # the staging root, once empty
                    except OSError:
                        pass
            with self._lock:
                self.uploads.append(UploadRecord(name, r, time.perf_counter() - start))
            return r

        return self.uploader._submit(name, task)

    def remove(self, name: str) -> Future:
        """Removes ``name`` from the remote once its queued uploads are done (its chunks go at the next gc)."""
        return self.uploader.after_upload(name, lambda: self.client.remove(name, remote=self.remote))

    def after(self, name: str, fn: Callable[[], object]) -> Future:
        """Runs ``fn`` on the worker once the queued uploads of ``name`` are done."""
        return self.uploader.after_upload(name, fn)

    def wait(self) -> None:
        """Blocks until every queued upload and removal is done; raises the first failure."""
        start = time.perf_counter()
        try:
            self.uploader.wait()
        finally:
            self.waited_seconds += time.perf_counter() - start

    def close(self) -> None:
        start = time.perf_counter()
        try:
            self.uploader.close()
        finally:
            self.waited_seconds += time.perf_counter() - start


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)  # a file system without hard links: a copy is still a stable snapshot
    return dst
