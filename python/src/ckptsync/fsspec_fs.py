"""An fsspec file system for ``ckptsync://<remote>/<name>[/<path in a directory checkpoint>]``.

``<remote>`` is a configured remote's name (``ckptsync remote add``; give ``repo=`` when the current
directory is not in that repository). Reading (``open(..., "rb")``, ``cat_file`` with ranges, ``ls``,
``info``) fetches only the chunks covering the bytes asked for, verified, into the shared cache;
writing (``open(..., "wb")``) writes a local temp file and pushes it under the name on close. Names
may contain ``/``: a path is split at the longest prefix that is a name on the remote. Registered
through the ``fsspec.specs`` entry point; importing ``ckptsync`` never imports fsspec.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .client import Client
from .errors import NotFoundError
from .results import Snapshot

_READ_MAX = 16 << 20  # the protocol's largest read


class CkptsyncFileSystem(AbstractFileSystem):
    protocol = "ckptsync"
    root_marker = ""

    def __init__(self, client: Client | None = None, repo: str | None = None, cache_dir: str | None = None, env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client or Client(repo=repo, cache_dir=cache_dir, env=env)
        self._names: dict[str, list[str]] = {}
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._lock = threading.Lock()

    # -- locating names -------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = super()._strip_protocol(path)
        return path.strip("/")

    def _remote_names(self, remote: str, refresh: bool = False) -> list[str]:
        with self._lock:
            cached = None if refresh else self._names.get(remote)
        if cached is None:
            cached = self.client.names(remote=remote)
            with self._lock:
                self._names[remote] = cached
        return cached

    def _snapshot(self, remote: str, name: str) -> Snapshot:
        key = (remote, name)
        with self._lock:
            s = self._snapshots.get(key)
        if s is None:
            s = self.client.describe(name, remote=remote)
            with self._lock:
                self._snapshots[key] = s
        return s

    def _locate(self, path: str, refresh: bool = False) -> tuple[str, str | None, str | None]:
        """(remote, name, file in the checkpoint): name None for the remote's root or a name prefix."""
        path = self._strip_protocol(path)
        remote, _, rest = path.partition("/")
        if not rest:
            return remote, None, None
        names = set(self._remote_names(remote, refresh))
        parts = rest.split("/")
        for i in range(len(parts), 0, -1):
            name = "/".join(parts[:i])
            if name in names:
                return remote, name, "/".join(parts[i:]) or None
        if not refresh:
            return self._locate(path, refresh=True)  # a name pushed since the listing was cached
        return remote, None, rest

    def invalidate_cache(self, path: str | None = None) -> None:
        with self._lock:
            self._names.clear()
            self._snapshots.clear()
        super().invalidate_cache(path)

    # -- reading --------------------------------------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        remote, name, inner = self._locate(path)
        full = self._strip_protocol(path)
        if name is None:
            prefix = "" if inner is None else inner + "/"
            if inner is None or any(n.startswith(prefix) for n in self._remote_names(remote)):
                return {"name": full, "size": 0, "type": "directory"}
            raise FileNotFoundError(full)
        snap = self._snapshot(remote, name)
        if inner is None:
            if snap.type == "file":
                return {"name": full, "size": snap.bytes, "type": "file", "manifest": snap.manifest}
            return {"name": full, "size": snap.bytes, "type": "directory", "manifest": snap.manifest}
        for f in snap.files:
            if f.path == inner:
                return {"name": full, "size": f.size, "type": "file", "manifest": snap.manifest}
        if any(f.path.startswith(inner + "/") for f in snap.files):
            return {"name": full, "size": 0, "type": "directory"}
        raise FileNotFoundError(full)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        info = self.info(path)
        full = self._strip_protocol(path)
        if info["type"] == "file":
            return [info] if detail else [full]
        remote, name, inner = self._locate(path)
        entries: dict[str, dict[str, Any]] = {}
        if name is None:
            prefix = "" if inner is None else inner + "/"
            for n in self._remote_names(remote):
                if not n.startswith(prefix):
                    continue
                child = n[len(prefix):].split("/")[0]
                child_path = f"{remote}/{prefix}{child}"
                if child_path not in entries:
                    entries[child_path] = self.info(child_path)
        else:
            snap = self._snapshot(remote, name)
            prefix = "" if inner is None else inner + "/"
            for f in snap.files:
                if not f.path.startswith(prefix):
                    continue
                child = f.path[len(prefix):].split("/")[0]
                child_path = f"{remote}/{name}/{prefix}{child}"
                is_file = f.path == prefix + child
                entries.setdefault(child_path, {"name": child_path, "size": f.size if is_file else 0, "type": "file" if is_file else "directory"})
        out = sorted(entries.values(), key=lambda e: e["name"])
        return out if detail else [e["name"] for e in out]

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a file: only the chunks covering them are fetched."""
        remote, name, inner = self._locate(path)
        if name is None:
            raise FileNotFoundError(self._strip_protocol(path))
        parts = []
        while start < end:
            n = min(end - start, _READ_MAX)
            try:
                r = self.client.read(name, start, n, file=inner, remote=remote)
            except NotFoundError as e:
                raise FileNotFoundError(str(e)) from None
            if not r.data:
                break
            parts.append(r.data)
            start += len(r.data)
        return b"".join(parts)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        size = self.info(path)["size"]
        s = 0 if start is None else (start if start >= 0 else max(0, size + start))
        e = size if end is None else (end if end >= 0 else max(0, size + end))
        return self.read_range(path, s, min(e, size)) if s < e else b""

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True, cache_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if "r" in mode:
            return _ReadFile(self, path, mode, block_size=block_size or "default", cache_options=cache_options, **kwargs)
        if "w" in mode:
            return _WriteFile(self, path, autocommit)
        raise ValueError(f"mode {mode!r} is not supported (rb, wb)")

    # -- writing and removing -------------------------------------------------------------------------

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        remote, _, name = self._strip_protocol(rpath).partition("/")
        self.client.push(lpath, name, remote=remote, progress=False)
        self.invalidate_cache()

    def rm_file(self, path: str) -> None:
        remote, name, inner = self._locate(path)
        if name is None or inner is not None:
            raise FileNotFoundError(self._strip_protocol(path))
        self.client.remove(name, remote=remote)
        self.invalidate_cache()

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None) -> None:
        for p in [path] if isinstance(path, str) else path:
            if recursive and self.isdir(p):
                for child in self.find(p):
                    self.rm_file(child)
            else:
                self.rm_file(p)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        pass  # names have no directories to make

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        pass

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kwargs: Any) -> Any:
        # Whole names under path (a directory checkpoint counts as one object: its files are read-only).
        remote, name, inner = self._locate(path)
        if name is not None:
            out = {self._strip_protocol(path): self.info(path)}
        else:
            prefix = "" if inner is None else inner + "/"
            out = {f"{remote}/{n}": {"name": f"{remote}/{n}", "type": "file", "size": 0} for n in self._remote_names(remote) if n.startswith(prefix)}
        return out if detail else sorted(out)


class _ReadFile(AbstractBufferedFile):
    def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = self.fs.read_range(self.path, start, end)
        return data


class _WriteFile:
    """A local temp file; on close it is pushed under the name, then removed. Inside an fsspec transaction
    (``autocommit=False``, as Lightning saves) it is pushed on ``commit`` instead, or dropped on ``discard``."""

    def __init__(self, fs: CkptsyncFileSystem, path: str, autocommit: bool = True) -> None:
        self.fs = fs
        self.path = path
        self.autocommit = autocommit
        fd, self._tmp = tempfile.mkstemp(prefix=".ckptsync-fsspec-", suffix=".tmp")
        self._f = os.fdopen(fd, "wb")
        self.closed = False

    def write(self, data: bytes) -> int:
        return self._f.write(data)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return True

    def seek(self, *a: Any) -> int:
        return self._f.seek(*a)

    def tell(self) -> int:
        return self._f.tell()

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._f.close()
        if self.autocommit:
            self.commit()

    def commit(self) -> None:
        try:
            self.fs.put_file(self._tmp, self.path)
        finally:
            os.remove(self._tmp)

    def discard(self) -> None:
        self.closed = True
        self._f.close()
        if os.path.exists(self._tmp):
            os.remove(self._tmp)

    def __enter__(self) -> _WriteFile:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
