"""resolve_checkpoint_path: the one-call way training code finds a checkpoint file."""

from __future__ import annotations

import atexit
import os
import threading

from .client import Client, is_pointer_file
from .progress import ProgressArg

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """A process-wide client for the module-level functions (after a fork it starts its own server)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
            atexit.register(_default.close)
        return _default


def resolve_checkpoint_path(
    identifier: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    remote: str | None = None,
    offline: bool | None = None,
    *,
    progress: ProgressArg = None,
) -> str:
    """An absolute path for a checkpoint.

    An absolute path that exists is returned as is (no ckptsync process is started). A pointer file
    (``PATH.ckpt``), a checkpoint name or a bare file name is looked up in the shared cache and
    downloaded once if it is missing, however many processes ask at the same moment. Offline with
    nothing cached raises :class:`NotFoundError` naming the identifier and the cache searched.
    """
    ident = os.fspath(identifier)
    if os.path.isabs(ident) and os.path.exists(ident) and not is_pointer_file(ident):
        return ident
    cd = os.fspath(cache_dir) if cache_dir is not None else None
    return default_client().resolve(ident, remote=remote, cache_dir=cd, offline=offline, progress=progress).path
