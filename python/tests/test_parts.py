"""Sharded checkpoints from many ranks: Client.push(..., part=(k, m)) and Client.commit (manifest-spec.md §8b)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import ckptsync
from ckptsync import Client, PartsIncompleteError, PartsOverlapError
from conftest import write_bytes


def _rank_dir(root: Path, k: int) -> Path:
    d = root / f"rank{k}" / "step-100"
    write_bytes(d / f"__{k}_0.distcp", (1 << 20) + k, seed=k)
    if k == 0:
        (d / ".metadata").write_bytes(b"dcp metadata")
    return d


def test_part_pushes_from_three_ranks_at_once_make_one_version_a_reader_pulls_whole(remote, tmp_path: Path) -> None:
    url, env = remote
    dirs = [_rank_dir(tmp_path, k) for k in range(3)]
    results: list[ckptsync.PartPushResult] = []
    errors: list[BaseException] = []

    def rank(k: int) -> None:
        try:
            with Client(remote=url, env=env) as c:  # one process per rank, as on separate machines
                results.append(c.push(dirs[k], "run1/step-100", part=(k, 3), attempt="job1"))
        except BaseException as e:  # a rank's own error, not just a missing result, is what the test reports
            errors.append(e)

    threads = [threading.Thread(target=rank, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    assert sorted(r.part for r in results) == [0, 1, 2]
    done = [r for r in results if r.complete]
    assert done and len({r.manifest for r in done}) == 1
    assert sum(r.changed for r in results) == 1, "the name moved once"
    with Client(remote=url, env=env) as c:
        assert c.names("run1/") == ["run1/step-100"]
        out = c.pull("run1/step-100", tmp_path / "reader" / "step-100")
        assert out.manifest == done[0].manifest
        got = sorted(p.relative_to(tmp_path / "reader" / "step-100").as_posix() for p in (tmp_path / "reader" / "step-100").rglob("*") if p.is_file())
        assert got == [".metadata", "__0_0.distcp", "__1_0.distcp", "__2_0.distcp"]
        for k in range(3):
            assert (tmp_path / "reader" / "step-100" / f"__{k}_0.distcp").read_bytes() == (dirs[k] / f"__{k}_0.distcp").read_bytes()


def test_part_push_waits_for_missing_parts_commit_refuses_then_finishes(tmp_path: Path) -> None:
    url = str(tmp_path / "remote")
    dirs = [_rank_dir(tmp_path, k) for k in range(2)]
    with Client(remote=url) as c:
        first = c.push(dirs[1], "run1/step-100", part=(1, 2), attempt="a")
        assert (first.complete, first.manifest, first.waiting_for) == (False, None, [0])
        with pytest.raises(PartsIncompleteError) as e:
            c.commit("run1/step-100", 2, attempt="a")
        assert e.value.exit_code == 11 and "waits for part 0 of 2" in str(e.value)
        assert c.names("run1/") == []
        last = c.push(dirs[0], "run1/step-100", part=(0, 2), attempt="a")
        assert last.complete and last.changed and last.waiting_for == []
        again = c.commit("run1/step-100", 2, attempt="a")
        assert (again.manifest, again.changed) == (last.manifest, False)


def test_two_parts_holding_the_same_file_raise_parts_overlap(tmp_path: Path) -> None:
    url = str(tmp_path / "remote")
    dirs = [_rank_dir(tmp_path, k) for k in range(2)]
    (dirs[1] / ".metadata").write_bytes(b"rank 1 too")
    with Client(remote=url) as c:
        c.push(dirs[0], "x", part=(0, 2), attempt="a")
        with pytest.raises(PartsOverlapError) as e:
            c.push(dirs[1], "x", part=(1, 2), attempt="a")
        assert e.value.exit_code == 12 and ".metadata" in str(e.value)
