"""Client over a real serve process: operations, threads, progress, process death, fork."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

import ckptsync
from ckptsync import Client, CkptsyncError, ConfigError
from conftest import write_bytes


def test_push_names_resolve_pull_latest_diff_round_trip(remote, tmp_path: Path) -> None:
    url, env = remote
    data = write_bytes(tmp_path / "w" / "epoch_3.bin", 3 << 20, seed=1)
    write_bytes(tmp_path / "w" / "epoch_10.bin", 1 << 20, seed=2)
    with Client(remote=url, env=env) as c:
        r = c.push(tmp_path / "w" / "epoch_3.bin", "run1/epoch_3.bin")
        assert isinstance(r, ckptsync.PushResult)
        assert (r.name, r.bytes_total, r.bytes_uploaded, r.changed) == ("run1/epoch_3.bin", 3 << 20, 3 << 20, True)
        again = c.push(tmp_path / "w" / "epoch_3.bin", "run1/epoch_3.bin")
        assert (again.bytes_uploaded, again.changed) == (0, False)
        c.push(tmp_path / "w" / "epoch_10.bin", "run1/epoch_10.bin")
        assert c.names("run1/") == ["run1/epoch_10.bin", "run1/epoch_3.bin"]
        assert c.latest("run1/epoch_").name == "run1/epoch_10.bin"
        res = c.resolve("run1/epoch_3.bin")
        assert Path(res.path).read_bytes() == data
        assert res.path.startswith(os.environ["CKPTSYNC_CACHE"])
        pulled = c.pull("run1/epoch_3.bin", tmp_path / "out" / "e3.bin")
        assert Path(pulled.path or "").read_bytes() == data
        kept = c.pull("run1/epoch_3.bin", tmp_path / "out" / "kept.bin", keep_copy=True)
        assert Path(kept.path or "").read_bytes() == data
        d = c.diff("run1/epoch_3.bin", "run1/epoch_10.bin", tensors=False)
        assert d.bytes["a"] == 3 << 20 and d.bytes["shared"] == 0


def test_one_client_serves_many_threads_at_once(tmp_path: Path) -> None:
    for i in range(4):
        write_bytes(tmp_path / f"f{i}.bin", 256 << 10, seed=i)
    with Client(remote=str(tmp_path / "remote")) as c:
        errors: list[BaseException] = []
        paths: dict[int, str] = {}

        def work(i: int) -> None:
            try:
                c.push(tmp_path / f"f{i}.bin", f"t/f{i}")
                paths[i] = c.resolve(f"t/f{i}").path
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        pid = c.server_pid
        for i in range(4):
            assert Path(paths[i]).read_bytes() == (tmp_path / f"f{i}.bin").read_bytes()
        assert c.server_pid == pid  # one process served every thread


def test_progress_callback_sees_bytes_moved_and_already_present(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a.bin", 8 << 20, seed=3)
    events: list[ckptsync.Progress] = []
    with Client(remote=str(tmp_path / "remote")) as c:
        c.push(tmp_path / "a.bin", "p/a", progress=events.append)
    uploads = [e for e in events if e.phase == "upload"]
    assert uploads and uploads[-1].bytes_moved == uploads[-1].total == 8 << 20
    assert all(e.bytes_already_present == 0 for e in uploads)
    events.clear()
    with Client(remote=str(tmp_path / "remote"), cache_dir=tmp_path / "cache2") as c:
        c.resolve("p/a", progress=events.append)
    assert [e for e in events if e.phase == "download"][-1].bytes_moved == 8 << 20


def test_killing_the_serve_process_mid_call_raises_and_the_next_call_works(tmp_path: Path) -> None:
    write_bytes(tmp_path / "big.bin", 64 << 20, seed=4)
    (tmp_path / "remote").mkdir()  # an empty remote: reading one that does not exist is NotFoundError
    c = Client(remote=str(tmp_path / "remote"))
    c.names()  # started
    victim = c.server_pid
    assert victim is not None

    def kill_on_first_event(_: ckptsync.Progress) -> None:
        os.kill(victim, signal.SIGKILL)

    with pytest.raises(CkptsyncError) as info:
        c.push(tmp_path / "big.bin", "k/big", progress=kill_on_first_event)
    assert type(info.value) is CkptsyncError
    assert "killed by signal 9" in str(info.value)
    assert c.names() == [] or "k/big" not in c.names()  # the next call starts a new process and works
    assert c.server_pid not in (None, victim)
    assert c.push(tmp_path / "big.bin", "k/big").bytes_total == 64 << 20
    c.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_starts_its_own_serve_process_and_lets_go_of_the_parents(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a.bin", 1 << 20, seed=5)
    c = Client(remote=str(tmp_path / "remote"))
    c.push(tmp_path / "a.bin", "f/a")
    parent_transport = c._transport
    assert parent_transport is not None
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: uses the inherited client, must not write into the parent's pipe
        try:
            os.close(r)
            os.close(go_w)
            path = c.resolve("f/a").path
            os.write(w, f"{c.server_pid} {path}".encode())
            os.read(go_r, 1)  # stays alive, holding whatever it inherited, until the parent has closed
        finally:
            os._exit(0)
    os.close(w)
    os.close(go_r)
    child_server, child_path = os.read(r, 4096).decode().split(" ", 1)
    assert int(child_server) != parent_transport.pid
    assert Path(child_path).read_bytes() == (tmp_path / "a.bin").read_bytes()
    assert c.server_pid == parent_transport.pid and c.names() == ["f/a"]  # the parent's process still answers
    # The child still lives: the parent's server must see its stdin close, and exit by itself.
    c.close()
    assert parent_transport.proc.returncode == 0
    os.write(go_w, b"x")
    os.waitpid(pid, 0)


def test_a_missing_cli_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKPTSYNC_BIN", str(tmp_path / "no-such-ckptsync"))
    with pytest.raises(ConfigError, match="CKPTSYNC_BIN names .* not an executable file; install the ckptsync CLI"):
        Client().names()
    monkeypatch.delenv("CKPTSYNC_BIN")
    monkeypatch.setattr(ckptsync.constants, "CKPTSYNC_BIN", None)  # as read at import, when the run set it
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="not on PATH; install the ckptsync CLI .*npm install -g ckptsync"):
        Client().names()


def test_importing_ckptsync_imports_no_optional_dependency() -> None:
    import subprocess
    import sys

    code = "import sys, ckptsync; print(sorted(m for m in ('fsspec', 'torch', 'tqdm') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_relative_destinations_follow_the_current_directory_after_a_chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_bytes(tmp_path / "a.bin", 256 << 10, seed=6)
    with Client(remote=str(tmp_path / "remote")) as c:
        c.push(tmp_path / "a.bin", "cd/a.bin")  # the serve process starts in tmp_path
        (tmp_path / "later").mkdir()
        monkeypatch.chdir(tmp_path / "later")
        r = c.pull("cd/a.bin")
    assert r.path == str(tmp_path / "later" / "a.bin")
    assert (tmp_path / "later" / "a.bin").read_bytes() == data


def test_push_of_small_files_goes_in_packs_and_packs_false_sends_each_whole(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    for i in range(40):
        write_bytes(tmp_path / "tok" / f"f{i:02d}.json", 2000, seed=i)
    with Client(remote=str(remote)) as c:
        c.push(tmp_path / "tok", "run1/tok", packs=False)
        assert not (remote / "packs").exists()
        assert sum(1 for p in (remote / "chunks").rglob("*") if p.is_file()) == 40
        for i in range(40, 80):
            write_bytes(tmp_path / "tok" / f"f{i:02d}.json", 2000, seed=i)
        r = c.push(tmp_path / "tok", "run1/tok")
        assert r.chunks_uploaded == 40
        assert sum(1 for p in (remote / "packs").rglob("*") if p.is_file()) == 1, "the 40 new files in one pack"
        assert sum(1 for p in (remote / "chunks").rglob("*") if p.is_file()) == 40
        out = c.pull("run1/tok", tmp_path / "out")
        assert sorted(p.name for p in Path(out.path or "").iterdir()) == sorted(p.name for p in (tmp_path / "tok").iterdir())
        assert all((Path(out.path or "") / p.name).read_bytes() == p.read_bytes() for p in (tmp_path / "tok").iterdir())
