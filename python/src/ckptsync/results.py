"""Small dataclasses for the answers of the serve protocol (field names in snake_case)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

T = TypeVar("T")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Builds cls from an answer, ignoring fields this version does not know (newer servers add some)."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in ((_snake(k), v) for k, v in d.items()) if k in known})


@dataclasses.dataclass(frozen=True)
class Progress:
    """A transfer's progress: bytes moved so far of ``total`` to move, and bytes already present."""

    phase: str
    bytes_moved: int
    bytes_to_move: int
    bytes_already_present: int

    @property
    def total(self) -> int:
        return self.bytes_to_move


@dataclasses.dataclass(frozen=True)
class PushResult:
    name: str
    manifest: str
    changed: bool = False
    bytes_total: int = 0
    bytes_uploaded: int = 0
    bytes_already_there: int = 0
    chunks_total: int = 0
    chunks_uploaded: int = 0
    chunks_as_deltas: int = 0


@dataclasses.dataclass(frozen=True)
class PartPushResult:
    """One part of a sharded version (``push(..., part=(k, m))``). ``manifest`` is the merged version's
    once every part is there (``complete``), else None; ``waiting_for`` lists the parts still missing."""

    name: str
    attempt: str
    part: int
    parts: int
    part_manifest: str
    manifest: str | None = None
    complete: bool = False
    changed: bool = False
    waiting_for: list[int] = dataclasses.field(default_factory=list)
    bytes_total: int = 0
    bytes_uploaded: int = 0
    bytes_already_there: int = 0
    chunks_total: int = 0
    chunks_uploaded: int = 0


@dataclasses.dataclass(frozen=True)
class CommitResult:
    name: str
    attempt: str
    parts: int
    manifest: str
    changed: bool = False


@dataclasses.dataclass(frozen=True)
class PullResult:
    manifest: str
    name: str | None = None
    path: str | None = None
    bytes_total: int = 0
    bytes_downloaded: int = 0
    bytes_seeded: int = 0
    chunks_total: int = 0
    chunks_downloaded: int = 0
    #: With ``include`` or ``tensors``: {"files", "filesTotal"} and, for tensors, {"tensors", "tensorsTotal"}.
    partial: dict[str, int] | None = None


@dataclasses.dataclass(frozen=True)
class ResolveResult:
    path: str
    manifest: str | None = None
    name: str | None = None
    cache_dir: str | None = None
    downloaded: bool = False
    bytes_downloaded: int = 0
    chunks_downloaded: int = 0


@dataclasses.dataclass(frozen=True)
class LatestResult:
    name: str
    number: int
    source: str
    candidates: int


@dataclasses.dataclass(frozen=True)
class DiffResult:
    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: list[dict[str, Any]]
    unchanged: int
    bytes: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PruneResult:
    kept: list[str]
    removed: list[dict[str, Any]]
    dry_run: bool


@dataclasses.dataclass(frozen=True)
class FileInfo:
    path: str
    size: int


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A remote checkpoint: its manifest, kind (``file`` or ``dir``), size and files."""

    name: str
    manifest: str
    type: str
    bytes: int
    files: list[FileInfo]


@dataclasses.dataclass(frozen=True)
class ReadResult:
    data: bytes
    manifest: str
    chunks_read: int
    chunks_downloaded: int
    bytes_downloaded: int
