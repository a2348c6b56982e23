"""Progress reporting: a user's callback, or a tqdm bar when tqdm is installed and stderr is a terminal."""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional, Union

from .results import Progress

#: ``progress=`` accepts a callback, ``False`` (no progress) or ``None`` (a tqdm bar on a terminal).
ProgressArg = Union[Callable[[Progress], None], bool, None]


def is_tqdm_available() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


class _Bar:
    """One tqdm bar per phase; closed by finish()."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar = None
        self.phase = ""

    def __call__(self, p: Progress) -> None:
        from tqdm import tqdm

        if p.phase != self.phase:
            self.finish()
            self.phase = p.phase
            self.bar = tqdm(total=p.bytes_to_move, desc=f"{self.desc} ({p.phase})", unit="B", unit_scale=True, unit_divisor=1024, leave=False)
        assert self.bar is not None
        self.bar.total = p.bytes_to_move
        self.bar.n = p.bytes_moved
        if p.bytes_already_present:
            self.bar.set_postfix_str(f"{p.bytes_already_present} B already there", refresh=False)
        self.bar.refresh()

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def wire_callback(progress: ProgressArg, desc: str) -> tuple[Optional[Callable[[dict[str, Any]], None]], Callable[[], None]]:
    """Turns ``progress=`` into a callback over the protocol's progress events, and a closer."""
    fn: Optional[Callable[[Progress], None]]
    closer: Callable[[], None] = lambda: None
    if progress is False:
        fn = None
    elif progress is None or progress is True:
        if is_tqdm_available() and sys.stderr.isatty():
            bar = _Bar(desc)
            fn, closer = bar, bar.finish
        else:
            fn = None
    else:
        fn = progress
    if fn is None:
        return None, closer
    user = fn

    def on_event(e: dict[str, Any]) -> None:
        user(
            Progress(
                phase=str(e.get("phase", "")),
                bytes_moved=int(e.get("bytesMoved", 0)),
                bytes_to_move=int(e.get("bytesToMove", 0)),
                bytes_already_present=int(e.get("bytesSkipped", 0)),
            )
        )

    return on_event, closer
