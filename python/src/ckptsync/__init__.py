"""ckptsync from Python: a thin client over one long-lived ``ckptsync serve --stdio`` process.

Importing this package imports nothing outside the standard library (fsspec, tqdm and torch only when
used).
"""

from .checkpointer import Checkpointer
from .client import Client
from .errors import (
    AuthError,
    CkptsyncError,
    ConfigError,
    ConflictError,
    IntegrityError,
    LockedError,
    NoSpaceError,
    NotFoundError,
    PartsIncompleteError,
    PartsOverlapError,
    TransientError,
    UsageError,
)
from .resolve import resolve_checkpoint_path
from .results import CommitResult, DiffResult, LatestResult, PartPushResult, Progress, PruneResult, PullResult, PushResult, ReadResult, ResolveResult, Snapshot
from .uploader import BackgroundUploader, CheckpointDownloader, CheckpointUploader

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BackgroundUploader",
    "CheckpointDownloader",
    "CheckpointUploader",
    "Checkpointer",
    "CkptsyncError",
    "Client",
    "ConfigError",
    "CommitResult",
    "ConflictError",
    "DiffResult",
    "IntegrityError",
    "LatestResult",
    "LockedError",
    "NoSpaceError",
    "NotFoundError",
    "PartPushResult",
    "PartsIncompleteError",
    "PartsOverlapError",
    "Progress",
    "PruneResult",
    "PullResult",
    "PushResult",
    "ReadResult",
    "ResolveResult",
    "Snapshot",
    "TransientError",
    "UsageError",
    "resolve_checkpoint_path",
]
