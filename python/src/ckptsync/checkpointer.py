"""Checkpointer: periodic checkpoints from a training loop, uploaded in the background."""

from __future__ import annotations

import functools
import os
import re
import tempfile
from typing import Any, Callable

from .client import Client
from .errors import UsageError
from .uploader import BackgroundUploader

Writer = Callable[[Any, str], None]
Reader = Callable[[str], Any]


def is_torch_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


class Checkpointer:
    """Saves ``state`` every ``period`` indices as ``save_dir/<file_prefix><index><file_ext>``.

    Files are written to a temp file and renamed, so readers and uploaders never see half a
    checkpoint. With ``keep_last`` only the newest files are kept. With ``remote`` each saved file is
    uploaded in the background under ``name_template`` (``{name}`` the file name, ``{stem}``, ``{ext}``,
    ``{index}``; default ``{name}``), and ``keep_last`` removes old names on the remote too. States are
    written with ``writer(state, path)`` when given, else ``torch.save``; read with ``reader`` or
    ``torch.load``. ``checkpoint=False`` turns saving off (``save`` returns None).
    """

    def __init__(
        self,
        save_dir: str | os.PathLike[str],
        period: int = 1,
        file_prefix: str = "checkpoint_",
        file_ext: str = ".pt",
        keep_last: int | None = None,
        delete_existing_checkpoints: bool = False,
        load_dir: str | os.PathLike[str] | None = None,
        load_filename: str | None = None,
        remote: str | None = None,
        name_template: str | None = None,
        checkpoint: bool = True,
        *,
        writer: Writer | None = None,
        reader: Reader | None = None,
        client: Client | None = None,
        workers: int = 1,
    ) -> None:
        if period < 1:
            raise UsageError("period must be a whole number >= 1")
        if keep_last is not None and keep_last < 1:
            raise UsageError("keep_last must be >= 1 (or None to keep everything)")
        self.save_dir = os.path.abspath(save_dir)
        self.period = period
        self.file_prefix = file_prefix
        self.file_ext = file_ext
        self.keep_last = keep_last
        self.load_dir = os.path.abspath(load_dir) if load_dir is not None else self.save_dir
        self.load_filename = load_filename
        self.remote = remote
        self.name_template = name_template or "{name}"
        self.checkpoint = checkpoint
        self._writer = writer
        self._reader = reader
        self._client = client
        self._forgetting: set[str] = set()  # old files queued for removal after their upload
        self._uploader = BackgroundUploader(remote, workers, client=client) if remote is not None else None  # nice 10 unless client given
        os.makedirs(self.save_dir, exist_ok=True)
        if delete_existing_checkpoints:
            for _, path in self._numbered(self.save_dir):
                os.remove(path)

    # -- saving ---------------------------------------------------------------------------------------

    def path_for(self, index: int) -> str:
        return os.path.join(self.save_dir, f"{self.file_prefix}{index}{self.file_ext}")

    def remote_name(self, path: str, index: int) -> str:
        name = os.path.basename(path)
        stem, ext = os.path.splitext(name)
        return self.name_template.format(name=name, stem=stem, ext=ext, index=index)

    def save(self, state: Any, index: int, force: bool = False) -> str | None:
        """Saves when ``index % period == 0`` or ``force``; returns the path, or None when not due."""
        if not self.checkpoint or not (force or index % self.period == 0):
            return None
        dest = self.path_for(index)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=self.save_dir)
        os.close(fd)
        try:
            self._write(state, tmp)
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.remove(tmp)
            except FileNotFoundError:
                pass
            raise
        if self._uploader is not None:
            self._uploader.upload_file(self.remote_name(dest, index), dest)
        self._apply_keep_last()
        return dest

    def save_model(self, model_state: Any, index: int) -> str | None:
        """Saves a model's state at ``index`` whatever the period (the final or best model)."""
        return self.save(model_state, index, force=True)

    def _write(self, state: Any, path: str) -> None:
        if self._writer is not None:
            self._writer(state, path)
        elif is_torch_available():
            import torch

            torch.save(state, path)
        else:
            raise UsageError("no writer: install torch, or pass writer=callable(state, path) to Checkpointer")

    def _apply_keep_last(self) -> None:
        if self.keep_last is None:
            return
        files = self._numbered(self.save_dir)
        for index, path in files[: max(0, len(files) - self.keep_last)]:
            if self._uploader is None:
                os.remove(path)
                continue
            if path in self._forgetting:
                continue
            # After its own upload finished: deleting a file being uploaded would fail that upload.
            self._forgetting.add(path)
            name = self.remote_name(path, index)
            self._uploader.after_upload(name, functools.partial(self._forget, path, name))

    def _forget(self, path: str, name: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        self._forgetting.discard(path)
        assert self._uploader is not None
        self._uploader.client.remove(name, remote=self.remote)

    def _numbered(self, directory: str, recursive: bool = False) -> list[tuple[int, str]]:
        return _numbered_files(directory, self.file_prefix, self.file_ext, recursive)

    # -- finding and loading --------------------------------------------------------------------------

    def latest(self) -> int | None:
        """The largest saved index: among the files in ``save_dir``, else among the remote's names."""
        files = self._numbered(self.save_dir)
        if files:
            return files[-1][0]
        if self.remote is None:
            return None
        client = self._client or (self._uploader.client if self._uploader else Client(remote=self.remote))
        from .errors import NotFoundError

        try:
            r = client.latest(self.remote_name(self.path_for(0), 0).split(f"0{self.file_ext}")[0], remote=self.remote)
        except NotFoundError:
            return None
        return r.number

    @staticmethod
    def get_latest_file(load_dir: str | os.PathLike[str], file_prefix: str = "checkpoint_", file_ext: str = ".pt") -> str | None:
        """The file ``<file_prefix><largest number><file_ext>`` under ``load_dir``, searched recursively."""
        files = _numbered_files(os.fspath(load_dir), file_prefix, file_ext, recursive=True)
        return files[-1][1] if files else None

    def load(self) -> Any:
        """Loads ``load_filename`` (a file in ``load_dir``, or a name resolved through the remote), else
        the latest checkpoint in ``load_dir``; None when there is none."""
        path: str | None
        if self.load_filename is not None:
            local = os.path.join(self.load_dir, self.load_filename)
            if os.path.exists(local):
                path = local
            else:
                from .resolve import resolve_checkpoint_path

                path = resolve_checkpoint_path(self.load_filename, remote=self.remote)
        else:
            path = self.get_latest_file(self.load_dir, self.file_prefix, self.file_ext)
        if path is None:
            return None
        if self._reader is not None:
            return self._reader(path)
        if is_torch_available():
            import torch

            return torch.load(path, map_location="cpu", weights_only=False)
        raise UsageError("no reader: install torch, or pass reader=callable(path) to Checkpointer")

    # -- background uploads ---------------------------------------------------------------------------

    def wait(self) -> None:
        """Blocks until every queued upload (and remote pruning) is done; raises the first failure."""
        if self._uploader is not None:
            self._uploader.wait()

    def close(self) -> None:
        if self._uploader is not None:
            self._uploader.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _numbered_files(directory: str, prefix: str, ext: str, recursive: bool) -> list[tuple[int, str]]:
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(ext) + "$")
    out: list[tuple[int, str]] = []
    if not os.path.isdir(directory):
        return out
    walker = os.walk(directory) if recursive else [(directory, [], os.listdir(directory))]
    for root, _, names in walker:
        for n in names:
            m = pattern.match(n)
            if m and os.path.isfile(os.path.join(root, n)):
                out.append((int(m.group(1)), os.path.join(root, n)))
    out.sort()
    return out
