"""Importing ckptsync never imports torch or a framework, even where they are installed (this virtualenv)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_ckptsync_imports_no_framework() -> None:
    code = "import sys, ckptsync, ckptsync.fsspec_fs; bad = [m for m in ('torch', 'lightning', 'composer', 'transformers', 'wandb') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_each_integration_imports_only_its_framework() -> None:
    code = "import sys, ckptsync.wandb; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
