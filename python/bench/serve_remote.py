"""A small call over an SFTP remote through one Client (one serve process): its latency, 20 calls.

Run after `npm run build`: .venv/bin/python python/bench/serve_remote.py (starts the tests' OpenSSH server).
"""
import os, statistics, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import LiveServer, init_repo, write_bytes, CLI
os.environ["CKPTSYNC_BIN"] = str(CLI)
from ckptsync import Client
srv = LiveServer("sftp")
os.environ.update(srv.env)
d = Path(tempfile.mkdtemp())
init_repo(d / "repo", {"origin": srv.new_url()}, srv.env)
write_bytes(d / "repo" / "w.bin", 1 << 20)
os.chdir(d / "repo")
with Client() as c:
    c.push(d / "repo" / "w.bin", "w/v1")
    ts = []
    for i in range(20):
        t = time.perf_counter(); c.names(remote="origin"); ts.append((time.perf_counter() - t) * 1000)
    print(f"names over sftp via serve: median {statistics.median(ts):.1f} ms, min {min(ts):.1f}, max {max(ts):.1f}")
srv.stop()
