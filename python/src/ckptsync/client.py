"""The client: every call is one request to a ``ckptsync serve --stdio`` process this client owns."""

from __future__ import annotations

import base64
import os
import shutil
import threading
import weakref
from typing import Any, Sequence, overload

from . import constants
from ._transport import ProgressFn, Transport, find_cli
from .errors import CkptsyncError
from .progress import ProgressArg, wire_callback
from .results import (
    CommitResult,
    DiffResult,
    FileInfo,
    LatestResult,
    PartPushResult,
    PruneResult,
    PullResult,
    PushResult,
    ReadResult,
    ResolveResult,
    Snapshot,
    from_dict,
)

_POINTER_SUFFIX = ".ckpt"
_POINTER_MAX_BYTES = 1024


def is_pointer_file(path: str) -> bool:
    """A ckptsync pointer file: ``*.ckpt`` and small (Lightning's checkpoints end in .ckpt too)."""
    if not path.endswith(_POINTER_SUFFIX):
        return False
    try:
        return os.path.isfile(path) and os.path.getsize(path) <= _POINTER_MAX_BYTES
    except OSError:
        return False


class Client:
    """A connection to ckptsync, safe to share between threads.

    ``remote`` is a configured remote's name or a URL (default: the repository's default remote);
    ``repo`` a directory in the ckptsync repository whose configuration and store to use (default: the
    one around the current directory, if any); ``cache_dir`` the shared cache (default:
    ``CKPTSYNC_CACHE``, then ``~/.cache/ckptsync``); ``offline`` never touches the network when
    resolving (default: ``CKPTSYNC_OFFLINE``). ``env`` adds environment variables for the ckptsync
    process (credentials, endpoints) and ``bin`` names the CLI (default: ``CKPTSYNC_BIN``, then PATH).
    ``nice`` runs the ckptsync process at a lower CPU priority (POSIX ``nice``), for background work.

    The ckptsync process starts on the first call and is reused; if it dies it is started again on
    the next call, and a process forked from this one starts its own.
    """

    def __init__(
        self,
        remote: str | None = None,
        repo: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        *,
        env: dict[str, str] | None = None,
        bin: str | None = None,
        nice: int | None = None,
    ) -> None:
        self.remote = remote
        self.repo = os.path.abspath(repo) if repo is not None else None
        self.cache_dir = os.path.abspath(cache_dir) if cache_dir is not None else None
        self.offline = constants.CKPTSYNC_OFFLINE if offline is None else offline
        self._env = dict(env or {})
        self._bin = bin
        self._nice = nice
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._closed = False
        _clients.add(self)

    # -- transport ------------------------------------------------------------------------------------

    def _live(self) -> Transport:
        with self._lock:
            if self._closed:
                raise CkptsyncError("this ckptsync Client is closed")
            t = self._transport
            if t is not None and t.owner_pid != os.getpid():
                # Forked: the pipes are the parent's. Forget them without touching them.
                t = self._transport = None
            if t is None or not t.alive():
                cmd = find_cli(self._bin)
                if self._nice and shutil.which("nice"):
                    cmd = ["nice", "-n", str(self._nice), *cmd]
                t = self._transport = Transport(cmd, self._env, os.getcwd())
            return t

    def _call(self, op: str, args: dict[str, Any], progress: ProgressFn | None = None) -> Any:
        # Relative paths and repository discovery follow this process's current directory, not the
        # one the serve process happened to start in.
        return self._live().call(op, {**args, "cwd": os.getcwd()}, progress)

    def _with_progress(self, op: str, args: dict[str, Any], progress: ProgressArg, desc: str) -> Any:
        fn, finish = wire_callback(progress, desc)
        try:
            return self._call(op, args, fn)
        finally:
            finish()

    def _where(self, remote: str | None) -> dict[str, Any]:
        return {"remote": remote if remote is not None else self.remote, "repo": self.repo}

    @property
    def server_pid(self) -> int | None:
        """The pid of the serve process, once started (for diagnostics)."""
        t = self._transport
        return t.pid if t is not None and t.owner_pid == os.getpid() else None

    def close(self) -> None:
        """Stops the serve process after the calls in flight are answered."""
        with self._lock:
            self._closed = True
            t, self._transport = self._transport, None
        if t is not None and t.owner_pid == os.getpid():
            t.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(remote={self.remote!r}, repo={self.repo!r})"  # env may hold credentials: never shown

    # -- operations -----------------------------------------------------------------------------------

    @overload
    def push(self, path_or_name: str | os.PathLike[str], name: str | None = None, *, remote: str | None = None, force: bool = False, packs: bool = True, deltas: bool = True, progress: ProgressArg = None) -> PushResult: ...
    @overload
    def push(self, path_or_name: str | os.PathLike[str], name: str, *, part: tuple[int, int], attempt: str | None = None, remote: str | None = None, force: bool = False, packs: bool = True, deltas: bool = True, progress: ProgressArg = None) -> PartPushResult: ...

    def push(
        self,
        path_or_name: str | os.PathLike[str],
        name: str | None = None,
        *,
        part: tuple[int, int] | None = None,
        attempt: str | None = None,
        remote: str | None = None,
        force: bool = False,
        packs: bool = True,
        deltas: bool = True,
        progress: ProgressArg = None,
    ) -> PushResult | PartPushResult:
        """Uploads a file or directory under ``name`` (default: its base name), or pushes a name or pointer file.

        ``part=(k, m)``: the directory is this machine's part ``k`` (from 0, a rank) of ``m`` of a sharded
        checkpoint; the name moves once every part is there, to one version holding all their files.
        Every part of one save shares ``attempt`` (default: ``CKPTSYNC_ATTEMPT``, the launcher's run id
        and restart count, else "0").

        ``packs=False`` sends every small file's chunk as an object of its own, as ckptsync did before remote
        layout 3, so that older readers can still pull it; ``deltas=False`` sends changed chunks whole.
        """
        target = os.fspath(path_or_name)
        args = {**self._where(remote), "force": force or None, "packs": None if packs else False, "deltas": None if deltas else False}
        if part is not None:
            if name is None:
                raise TypeError("push(..., part=(k, m)) needs the version's name")
            k, m = part
            r = self._with_progress(
                "push",
                {**args, "target": os.path.abspath(target), "name": name, "part": k, "parts": m, "attempt": attempt, "cacheDir": self.cache_dir},
                progress,
                f"push {name} part {k}/{m}",
            )
            return from_dict(PartPushResult, r)
        if os.path.exists(target) and not is_pointer_file(target):
            r = self._with_progress("upload", {**args, "path": os.path.abspath(target), "name": name, "cacheDir": self.cache_dir}, progress, f"push {name or target}")
        else:
            t = os.path.abspath(target) if os.path.exists(target) else target
            r = self._with_progress("push", {**args, "target": t, "name": name}, progress, f"push {target}")
        return from_dict(PushResult, r)

    def commit(self, name: str, parts: int, *, attempt: str | None = None, remote: str | None = None, force: bool = False) -> CommitResult:
        """Finishes a sharded version once all ``parts`` were pushed (``PartsIncompleteError`` names the missing ones)."""
        r = self._call("commit", {**self._where(remote), "name": name, "parts": parts, "attempt": attempt, "force": force or None, "cacheDir": self.cache_dir})
        return from_dict(CommitResult, r)

    def pull(
        self,
        name: str,
        dest: str | os.PathLike[str] | None = None,
        *,
        remote: str | None = None,
        force: bool = False,
        include: Sequence[str] | None = None,
        tensors: Sequence[str] | None = None,
        keep_copy: bool = False,
        progress: ProgressArg = None,
    ) -> PullResult:
        """Downloads a checkpoint (a name or pointer file) and writes its files to ``dest``. A file there
        that was changed since ckptsync wrote it raises ``ConflictError`` unless ``force``. ``include``
        (globs) writes only those files of a directory checkpoint, a rank's own shards; ``tensors`` (globs)
        writes to ``dest`` a safetensors file of only those tensors. Either fetches only the chunks of what
        it writes. The files are the only local copy unless ``keep_copy`` (manifest-spec.md §7b)."""
        target = os.path.abspath(name) if is_pointer_file(name) else name
        d = os.path.abspath(dest) if dest is not None else None
        args = {**self._where(remote), "target": target, "dest": d, "force": force, "include": list(include) if include else None, "tensors": list(tensors) if tensors else None, "keepCopy": keep_copy or None}
        return from_dict(PullResult, self._with_progress("pull", args, progress, f"pull {name}"))

    def resolve(self, identifier: str | os.PathLike[str], *, remote: str | None = None, cache_dir: str | None = None, offline: bool | None = None, progress: ProgressArg = None) -> ResolveResult:
        """The local path of a checkpoint in the shared cache, downloaded once however many processes ask."""
        ident = os.fspath(identifier)
        if is_pointer_file(ident):
            ident = os.path.abspath(ident)
        args = {
            **self._where(remote),
            "id": ident,
            "cacheDir": os.path.abspath(cache_dir) if cache_dir is not None else self.cache_dir,
            "offline": self.offline if offline is None else offline,
        }
        return from_dict(ResolveResult, self._with_progress("resolve", args, progress, f"resolve {ident}"))

    def latest(self, prefix: str, *, remote: str | None = None) -> LatestResult:
        """The largest-numbered checkpoint named ``prefix`` + number (on the remote when one is set)."""
        return from_dict(LatestResult, self._call("latest", {**self._where(remote), "prefix": prefix}))

    def names(self, prefix: str = "", *, remote: str | None = None) -> list[str]:
        """Names starting with ``prefix``: the remote's (when a remote is set or no repository), else local."""
        return list(self._call("names", {**self._where(remote), "prefix": prefix}))

    def diff(self, a: str, b: str, *, remote: str | None = None, tensors: bool = True) -> DiffResult:
        return from_dict(DiffResult, self._call("diff", {**self._where(remote), "a": a, "b": b, "tensors": tensors}))

    def prune(self, prefix: str, keep_last: int, *, keep_every: int | None = None, remote: str | None = None, dry_run: bool = False) -> PruneResult:
        """Removes old periodic names (prefix + number) from the remote, keeping the last ``keep_last``."""
        r = self._call("prune", {**self._where(remote), "prefix": prefix, "keepLast": keep_last, "keepEvery": keep_every, "local": False, "dryRun": dry_run})
        return from_dict(PruneResult, r)

    def remove(self, name: str, *, remote: str | None = None) -> bool:
        """Deletes a name from the remote (its data stays until ``gc``). False when it did not exist."""
        return bool(self._call("remove", {**self._where(remote), "name": name})["removed"])

    def add(self, path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
        """Snapshots a file of the repository into its store and writes its pointer file, as ``ckptsync add``."""
        return dict(self._call("add", {"repo": self.repo, "path": os.path.abspath(path), "name": name}))

    def describe(self, name: str, *, remote: str | None = None) -> Snapshot:
        r = self._call("describe", {**self._where(remote), "name": name, "cacheDir": self.cache_dir})
        return Snapshot(name=r["name"], manifest=r["manifest"], type=r["type"], bytes=r["bytes"], files=[FileInfo(**f) for f in r["files"]])

    def read(self, name: str, offset: int, length: int, *, file: str | None = None, remote: str | None = None) -> ReadResult:
        """Bytes ``offset`` to ``offset + length`` of a remote checkpoint's file: only the chunks covering them are fetched."""
        r = self._call("read", {**self._where(remote), "name": name, "file": file, "offset": offset, "length": length, "cacheDir": self.cache_dir})
        return ReadResult(
            data=base64.b64decode(r["data"]),
            manifest=r["manifest"],
            chunks_read=r["chunksRead"],
            chunks_downloaded=r["chunksDownloaded"],
            bytes_downloaded=r["bytesDownloaded"],
        )

    def gc(self, *, remote: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Deletes what no name reaches on the remote (under the remote's gc lock)."""
        return dict(self._call("gc", {**self._where(remote), "dryRun": dry_run}))


_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by another thread at the fork would never be released here; the transport is the
    # parent's. The next call in the child starts its own serve process.
    for c in list(_clients):
        c._lock = threading.Lock()
        t, c._transport = c._transport, None
        if t is not None:
            t.abandon()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
