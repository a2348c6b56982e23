"""Environment variables, read once at import.

| variable | meaning |
| --- | --- |
| ``CKPTSYNC_BIN`` | the ckptsync CLI to run (default: ``ckptsync`` on ``PATH``) |
| ``CKPTSYNC_CACHE`` | the shared checkpoint cache directory (default: ``~/.cache/ckptsync``) |
| ``CKPTSYNC_OFFLINE`` | ``1``: never touch the network; resolve only from the cache |
"""

from __future__ import annotations

import os

CKPTSYNC_BIN: str | None = os.environ.get("CKPTSYNC_BIN") or None
CKPTSYNC_CACHE: str | None = os.environ.get("CKPTSYNC_CACHE") or None
CKPTSYNC_OFFLINE: bool = os.environ.get("CKPTSYNC_OFFLINE", "") == "1"

#: The serve protocol version this package speaks (docs/serve-protocol.md).
PROTOCOL_VERSION = 1

INSTALL_HINT = (
    "install the ckptsync CLI (Node.js >= 20.18: `npm install -g ckptsync`, or `npm link` in a checkout) "
    "or set CKPTSYNC_BIN to its path"
)
