"""Partial pulls from Python: a rank's own files of a directory checkpoint, and a safetensors file of some
tensors that the real safetensors reader loads with the original bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import safetensors

from ckptsync import Client, UsageError


def tensors(seed: int) -> dict[str, dict]:
    """Tensors of several sizes, a few large enough to be chunks of their own (safetensors' own dict form)."""
    rng = random.Random(seed)
    out: dict[str, dict] = {}
    for layer in range(4):
        for part, rows in (("attn.weight", 512), ("mlp.weight", 1024), ("norm.weight", 1)):
            shape = [rows, 256]
            out[f"model.layers.{layer}.{part}"] = {"dtype": "F32", "shape": shape, "data": rng.randbytes(rows * 256 * 4)}
    return out


def write_safetensors(path: Path, ts: dict[str, dict], metadata: dict[str, str]) -> None:
    """The format by hand (8-byte length, JSON header, data); the real reader below is what checks it."""
    import json
    import struct

    header: dict = {"__metadata__": metadata}
    at = 0
    for name, t in ts.items():
        header[name] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [at, at + len(t["data"])]}
        at += len(t["data"])
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(t["data"] for t in ts.values()))


def test_pull_tensors_writes_a_file_the_safetensors_reader_loads_with_the_same_bytes(tmp_path: Path) -> None:
    remote = str(tmp_path / "remote")
    original = tensors(1)
    src = tmp_path / "model.safetensors"
    write_safetensors(src, original, {"format": "pt"})
    assert len(dict(safetensors.deserialize(src.read_bytes()))) == 12  # the reader accepts the original
    with Client(remote=remote, cache_dir=tmp_path / "pusher") as c:
        c.push(src, "m/v1")
    with Client(remote=remote, cache_dir=tmp_path / "reader") as c:
        r = c.pull("m/v1", tmp_path / "out" / "layer2.safetensors", tensors=["model.layers.2.*"])
    assert r.partial == {"files": 1, "filesTotal": 1, "tensors": 3, "tensorsTotal": 12}
    assert r.bytes_downloaded < src.stat().st_size / 2
    data = (tmp_path / "out" / "layer2.safetensors").read_bytes()
    loaded = dict(safetensors.deserialize(data))
    assert sorted(loaded) == sorted(k for k in original if k.startswith("model.layers.2."))
    for name, t in loaded.items():
        assert t["dtype"] == original[name]["dtype"] and list(t["shape"]) == original[name]["shape"]
        assert bytes(t["data"]) == original[name]["data"], name


def test_pull_include_writes_only_the_chosen_files(tmp_path: Path) -> None:
    remote = str(tmp_path / "remote")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for rank in range(4):
        (ckpt / f"__{rank}_0.distcp").write_bytes(random.Random(rank).randbytes(300_000))
    (ckpt / ".metadata").write_bytes(b"plan")
    with Client(remote=remote, cache_dir=tmp_path / "pusher") as c:
        c.push(ckpt, "run/step-5")
    with Client(remote=remote, cache_dir=tmp_path / "rank2") as c:
        r = c.pull("run/step-5", tmp_path / "mine", include=["__2_*", ".metadata"])
        assert r.partial == {"files": 2, "filesTotal": 5}
        assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [".metadata", "__2_0.distcp"]
        assert (tmp_path / "mine" / "__2_0.distcp").read_bytes() == (ckpt / "__2_0.distcp").read_bytes()
        with pytest.raises(UsageError, match="matches none of the 5 files"):
            c.pull("run/step-5", tmp_path / "none", include=["nope*"])
    assert not (tmp_path / "none").exists()
