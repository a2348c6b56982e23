"""The Python package's figures (issue 21): warm resolve latency, upload_file's return time during a
1 GiB upload, and a CPU-bound loop's step time with and without a 1 GiB upload in the background.

    CKPTSYNC_BIN=$PWD/bin/run.js .venv/bin/python python/bench/bench.py [--size-mib 1024] [--calls 1000]

Everything runs on a local-directory remote in a temp directory (removed at the end); prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timezone

from ckptsync import BackgroundUploader, Client


def write_random(path: str, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 << 20)
            f.write(os.urandom(n))
            left -= n


def cpu_step() -> float:
    """One step of a CPU-bound Python loop (pure interpreter work, holding the GIL); returns its seconds."""
    t = time.perf_counter()
    acc = 0
    for i in range(300_000):
        acc += i * i % 7
    return time.perf_counter() - t


def ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 3), "p95_ms": round(xs[int(len(xs) * 0.95) - 1] * 1000, 3), "max_ms": round(xs[-1] * 1000, 3), "n": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--nice", type=int, default=10, help="the uploader's CPU priority (0: as the loop's)")
    opts = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ckptsync-pybench-")
    os.environ["CKPTSYNC_CACHE"] = os.path.join(work, "cache")
    remote = os.path.join(work, "remote")
    out: dict = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "size_mib": opts.size_mib,
    }
    try:
        small = os.path.join(work, "small.bin")
        write_random(small, 4 << 20)
        with Client(remote=remote) as c:
            t = time.perf_counter()
            c.names()
            out["first_call_ms"] = round((time.perf_counter() - t) * 1000, 1)  # includes the serve process's start
            c.push(small, "bench/small.bin")
            c.resolve("bench/small.bin")  # cached from here on
            for offline in (False, True):
                times = []
                for _ in range(opts.calls):
                    t = time.perf_counter()
                    c.resolve("bench/small.bin", offline=offline, progress=False)
                    times.append(time.perf_counter() - t)
                out["resolve_offline" if offline else "resolve"] = ms(times)

        big = os.path.join(work, "big.bin")
        write_random(big, opts.size_mib << 20)
        out["cpu_step_idle"] = ms([cpu_step() for _ in range(opts.steps)])

        up = BackgroundUploader(remote, nice=opts.nice or None)
        out["uploader_nice"] = opts.nice
        started = time.perf_counter()
        big_upload = up.upload_file("bench/big.bin", big)
        returns, steps = [], []
        # While the big upload runs: queue small uploads (up to 100 names, behind it in the queue) and
        # run the CPU-bound loop.
        while not big_upload.done():
            if len(returns) < 100:
                t = time.perf_counter()
                up.upload_file(f"bench/during-{len(returns)}", small)
                returns.append(time.perf_counter() - t)
            steps.append(cpu_step())
        out["background_upload_seconds"] = round(time.perf_counter() - started, 1)
        up.wait()
        out["upload_file_return"] = ms(returns)
        out["cpu_step_during_upload"] = ms(steps)
        up.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
