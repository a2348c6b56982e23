"""Exceptions mirroring the CLI's exit codes (README, "Exit codes").

Each carries the error's ``code``, its ``exit_code`` and the one-line message the CLI prints; the
server removes credentials from messages before they reach Python, and nothing else is kept, so no
message or repr holds a secret.
"""

from __future__ import annotations

from typing import Any


class CkptsyncError(Exception):
    """Any ckptsync failure. ``code`` is the CLI's error code (``INTERNAL`` when unexpected)."""

    code: str = "INTERNAL"
    exit_code: int = 1

    def __init__(self, message: str, code: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (multiprocessing pools re-raise it)
        return (_rebuild, (type(self), self.message, self.code, self.exit_code))


def _rebuild(cls: type[CkptsyncError], message: str, code: str, exit_code: int) -> CkptsyncError:
    return cls(message, code, exit_code)


class UsageError(CkptsyncError):
    """Exit 2: bad arguments, name, URL, pointer file or path."""

    code, exit_code = "USAGE", 2


class NotFoundError(CkptsyncError):
    """Exit 3: a name, pointer target, object or path is missing."""

    code, exit_code = "NOT_FOUND", 3


class AuthError(CkptsyncError):
    """Exit 4: credentials refused, or an SSH host key unknown or changed."""

    code, exit_code = "AUTH", 4


class IntegrityError(CkptsyncError):
    """Exit 5: a hash mismatch or a corrupt object or manifest."""

    code, exit_code = "INTEGRITY", 5


class ConflictError(CkptsyncError):
    """Exit 6: the remote name moved meanwhile (your version is kept in its history), or a pull would
    overwrite a file changed locally (``code`` ``WORKTREE_CONFLICT``; pass ``force=True``)."""

    code, exit_code = "REF_CONFLICT", 6


class LockedError(CkptsyncError):
    """Exit 7: another process holds the lock."""

    code, exit_code = "LOCK_HELD", 7


class TransientError(CkptsyncError):
    """Exit 8: a network or server failure that outlived the retries."""

    code, exit_code = "TRANSIENT", 8


class ConfigError(CkptsyncError):
    """Exit 9: not in a repository, no remote, unknown remote name, or no ckptsync CLI."""

    code, exit_code = "CONFIG", 9


class NoSpaceError(CkptsyncError):
    """Exit 10: no space left on a disk, a remote or a quota; free space and try again."""

    code, exit_code = "NO_SPACE", 10


class PartsIncompleteError(CkptsyncError):
    """Exit 11: ``commit`` found parts of a sharded version not pushed yet (the name did not move)."""

    code, exit_code = "PARTS_INCOMPLETE", 11


class PartsOverlapError(CkptsyncError):
    """Exit 12: two parts of a sharded version hold the same file (the name did not move)."""

    code, exit_code = "PARTS_OVERLAP", 12


_BY_CODE: dict[str, type[CkptsyncError]] = {
    "USAGE": UsageError,
    "UNSAFE_PATH": UsageError,
    "NOT_FOUND": NotFoundError,
    "AUTH": AuthError,
    "HOST_KEY": AuthError,
    "INTEGRITY": IntegrityError,
    "REF_CONFLICT": ConflictError,
    "WORKTREE_CONFLICT": ConflictError,
    "LOCK_HELD": LockedError,
    "TRANSIENT": TransientError,
    "CONFIG": ConfigError,
    "NO_SPACE": NoSpaceError,
    "PARTS_INCOMPLETE": PartsIncompleteError,
    "PARTS_OVERLAP": PartsOverlapError,
}


def from_answer(error: dict[str, Any]) -> CkptsyncError:
    """The exception for a serve answer's ``error`` object ``{code, message, exitCode}``."""
    code = str(error.get("code", "INTERNAL"))
    cls = _BY_CODE.get(code, CkptsyncError)
    exit_code = error.get("exitCode")
    return cls(str(error.get("message", "unknown error")), code, exit_code if isinstance(exit_code, int) else None)
