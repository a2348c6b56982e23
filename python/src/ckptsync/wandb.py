"""Weights & Biases: a run's lineage in W&B artifacts, the checkpoint's bytes on a ckptsync remote.

W&B records references to URI schemes it does not know but cannot download them, so the artifact holds
ckptsync's pointer file (a few hundred bytes) and metadata naming the remote, the name, the manifest and the
size; the checkpoint stays deduplicated on the remote. ``use_checkpoint`` turns the artifact (or the
directory it was downloaded to) back into a local path through the shared cache.

Importing this module imports wandb; importing ``ckptsync`` does not.
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.parse
from typing import Any, Sequence

import wandb

from .client import Client, is_pointer_file
from .errors import UsageError

__all__ = ["download_from_wandb", "log_checkpoint", "pointer_text", "redact_remote", "upload_to_wandb", "use_checkpoint"]

_POINTER_VERSION = "https://ckptsync.dev/spec/pointer/v1"


def redact_remote(remote: str | None) -> str | None:
    """The remote without credentials: a URL loses its user information and query (manifest-spec's remotes
    may carry keys there); a configured remote's name or a path is kept."""
    if remote is None or "://" not in remote:
        return remote
    u = urllib.parse.urlsplit(remote)
    host = u.hostname or ""
    netloc = host + (f":{u.port}" if u.port else "")
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, "", ""))


def pointer_text(manifest: str, size: int, name: str | None) -> str:
    """A pointer file in its canonical form (manifest-spec.md §5): version first, then keys in byte order."""
    keys = {"manifest": manifest, "size": str(size), **({"name": name} if name else {})}
    return f"version {_POINTER_VERSION}\n" + "".join(f"{k} {keys[k]}\n" for k in sorted(keys))


def _artifact_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def log_checkpoint(run: Any, path_or_name: str | os.PathLike[str], name: str | None = None, aliases: Sequence[str] | None = None, remote: str | None = None, *, client: Client | None = None) -> Any:
    """Pushes the checkpoint (a local file or directory; a name already on the remote is not pushed again),
    then logs a W&B artifact of type ``model`` holding its pointer file and metadata; returns the artifact."""
    c = client or Client(remote=remote)
    try:
        target = os.fspath(path_or_name)
        if os.path.exists(target) and not is_pointer_file(target):
            r = c.push(target, name or os.path.basename(target.rstrip(os.sep)), remote=remote, progress=False)
            ckpt_name, manifest, size = r.name, r.manifest, r.bytes_total
        else:
            snap = c.describe(target, remote=remote)
            ckpt_name, manifest, size = snap.name, snap.manifest, snap.bytes
    finally:
        if client is None:
            c.close()
    meta = {"ckptsync": {"remote": redact_remote(remote), "name": ckpt_name, "manifest": manifest, "size": size}}
    art = wandb.Artifact(_artifact_name(ckpt_name), type="model", metadata=meta)
    pointer_file = os.path.basename(ckpt_name) + ".ckpt"
    with tempfile.TemporaryDirectory(prefix="ckptsync-wandb-") as tmp:
        p = os.path.join(tmp, pointer_file)
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write(pointer_text(manifest, size, ckpt_name))
        art.add_file(p, name=pointer_file)  # W&B copies it into its staging area now
    run.log_artifact(art, aliases=list(aliases) if aliases else None)
    return art


def use_checkpoint(artifact_or_dir: Any, remote: str | None = None, *, client: Client | None = None) -> str:
    """The local path of the checkpoint an artifact points at, resolved once into the shared cache.

    ``artifact_or_dir``: a ``wandb.Artifact`` (downloaded with its own ``download()``), or the directory
    an artifact was downloaded to. ``remote`` defaults to the one in the artifact's metadata.
    """
    if isinstance(artifact_or_dir, (str, os.PathLike)):
        directory = os.fspath(artifact_or_dir)
    else:
        meta = (artifact_or_dir.metadata or {}).get("ckptsync", {})
        remote = remote if remote is not None else meta.get("remote")
        directory = artifact_or_dir.download()
    pointers = sorted(f for f in os.listdir(directory) if is_pointer_file(os.path.join(directory, f)))
    if len(pointers) != 1:
        raise UsageError(f"{directory} holds {len(pointers)} ckptsync pointer files (*.ckpt), not one")
    c = client or Client(remote=remote)
    try:
        return c.resolve(os.path.join(directory, pointers[0]), remote=remote).path
    finally:
        if client is None:
            c.close()


def upload_to_wandb(run_id: str, checkpoint_path: str | os.PathLike[str], *, name: str | None = None, aliases: Sequence[str] | None = None, project: str | None = None, remote: str | None = None, client: Client | None = None) -> Any:
    """For scripts that upload after training: joins the W&B run ``run_id`` (``resume="allow"``), logs the
    checkpoint with :func:`log_checkpoint` (``latest`` by default), and finishes the run; returns the artifact."""
    run = wandb.init(id=run_id, project=project, resume="allow")
    try:
        return log_checkpoint(run, checkpoint_path, name=name, aliases=aliases or ["latest"], remote=remote, client=client)
    finally:
        run.finish()


def download_from_wandb(run_id: str, *, project: str | None = None, entity: str | None = None, alias: str = "latest", remote: str | None = None, client: Client | None = None) -> str:
    """The local path of the newest ``model`` artifact (with ``alias``) that the W&B run ``run_id`` logged,
    resolved through the shared cache. Needs a W&B server: an offline run's artifacts are not listed."""
    api = wandb.Api()
    path = "/".join(p for p in (entity or api.default_entity, project or os.environ.get("WANDB_PROJECT"), run_id) if p)
    models = [a for a in api.run(path).logged_artifacts() if a.type == "model" and alias in a.aliases]
    if not models:
        raise UsageError(f"the W&B run {path} logged no model artifact with the alias {alias}")
    return use_checkpoint(models[-1], remote=remote, client=client)
