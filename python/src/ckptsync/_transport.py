"""One ``ckptsync serve --stdio`` process and the JSON lines spoken with it (docs/serve-protocol.md).

A reader thread owns the process's stdout and hands each answer to the call waiting for its id, so
many threads can have calls in flight at once. When the process dies every waiting call fails with
:class:`CkptsyncError` at once (nothing waits on a dead pipe); the owner starts a new transport on the
next call. A transport belongs to the process that started it: after ``fork`` the child must not
write into its parent's pipe, and :class:`~ckptsync.Client` checks the pid before each call.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
from typing import Any, Callable

from . import constants
from .errors import CkptsyncError, ConfigError, from_answer

ProgressFn = Callable[[dict[str, Any]], None]


def find_cli(bin: str | None = None) -> list[str]:
    """The command that runs the CLI: ``bin``, then ``CKPTSYNC_BIN``, then ``ckptsync`` on ``PATH``."""
    explicit = bin or os.environ.get("CKPTSYNC_BIN") or constants.CKPTSYNC_BIN
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)) and shutil.which(explicit) is None:
            raise ConfigError(f"CKPTSYNC_BIN names {explicit}, which is not an executable file; {constants.INSTALL_HINT}")
        return [explicit]
    found = shutil.which("ckptsync")
    if found is None:
        raise ConfigError(f"the ckptsync CLI is not on PATH; {constants.INSTALL_HINT}")
    return [found]


class _Call:
    __slots__ = ("done", "answer", "error", "progress")

    def __init__(self, progress: ProgressFn | None) -> None:
        self.done = threading.Event()
        self.answer: dict[str, Any] | None = None
        self.error: CkptsyncError | None = None
        self.progress = progress


class Transport:
    """A started serve process. Thread-safe; dies for good when its process does."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.owner_pid = os.getpid()
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        try:
            self.proc = subprocess.Popen(
                [*cmd, "serve", "--stdio"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=full_env,
                cwd=cwd,
                close_fds=True,
            )
        except OSError as e:
            raise ConfigError(f"cannot start {cmd[0]}: {e.strerror}; {constants.INSTALL_HINT}") from None
        self._write_lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self._calls_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.dead: str | None = None
        hello_line = self.proc.stdout.readline()  # type: ignore[union-attr]
        try:
            hello = json.loads(hello_line)
        except ValueError:
            self.close()
            raise CkptsyncError(f"{cmd[0]} serve --stdio did not answer with a hello (exit status {self.proc.poll()}); is it ckptsync >= 0.1?") from None
        if hello.get("type") != "hello" or hello.get("protocol") != constants.PROTOCOL_VERSION:
            self.close()
            raise ConfigError(f"{cmd[0]} speaks serve protocol {hello.get('protocol')!r}; this package speaks {constants.PROTOCOL_VERSION}: upgrade the older one")
        self.hello: dict[str, Any] = hello
        self.max_line = int(hello.get("maxLineBytes", 1 << 20))
        self._reader = threading.Thread(target=self._read, name="ckptsync-serve-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.dead is None and self.proc.poll() is None

    def call(self, op: str, args: dict[str, Any], progress: ProgressFn | None = None) -> Any:
        """Sends one request and blocks until its answer; raises the answer's typed error."""
        call = _Call(progress)
        rid = next(self._ids)
        line = json.dumps({"id": rid, "op": op, "args": {k: v for k, v in args.items() if v is not None}}, separators=(",", ":")).encode() + b"\n"
        if len(line) - 1 > self.max_line:
            from .errors import UsageError

            raise UsageError(f"request {op} is {len(line) - 1} bytes, over the protocol's {self.max_line}")
        with self._calls_lock:
            if self.dead is not None:
                raise CkptsyncError(self.dead)
            self._calls[rid] = call
        try:
            with self._write_lock:
                self.proc.stdin.write(line)  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):
            self._fail_all(self._death_message())
        call.done.wait()
        if call.error is not None:
            raise call.error
        answer = call.answer or {}
        if answer.get("status") == "ok":
            return answer.get("result")
        raise from_answer(answer.get("error") or {})

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            for raw in out:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue  # not ours to interpret; the protocol allows nothing else on stdout
                with self._calls_lock:
                    call = self._calls.get(msg.get("id")) if isinstance(msg.get("id"), int) else None
                    if call is not None and msg.get("type") == "result":
                        del self._calls[msg["id"]]
                if call is None:
                    continue
                if msg.get("type") == "progress":
                    if call.progress is not None:
                        try:
                            call.progress(msg.get("progress") or {})
                        except Exception:
                            pass  # a broken progress callback must not stop the answers
                else:
                    call.answer = msg
                    call.done.set()
        except (OSError, ValueError):
            pass
        self._fail_all(self._death_message())

    def _death_message(self) -> str:
        try:
            status = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        how = f"was killed by signal {-status}" if status is not None and status < 0 else f"exited with status {status}"
        return f"the ckptsync serve process (pid {self.proc.pid}) {how} during the call; the next call starts a new one"

    def _fail_all(self, message: str) -> None:
        with self._calls_lock:
            if self.dead is None:
                self.dead = message
            calls, self._calls = list(self._calls.values()), {}
        for c in calls:
            c.error = CkptsyncError(message)
            c.done.set()

    def abandon(self) -> None:
        """In a forked child: let go of the parent's pipes without writing to or closing them for the
        parent. Their descriptors are pointed at /dev/null, so the parent's server still sees its stdin
        close when the parent closes it, and a late flush or close here touches nothing of the parent's."""
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    try:
                        os.dup2(devnull, f.fileno())
                    except (OSError, ValueError):
                        pass
        finally:
            os.close(devnull)
        self.dead = "this ckptsync serve process belongs to the parent process"

    def close(self) -> None:
        """Closes stdin (the server answers what is in flight, then exits) and waits for the exit."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
