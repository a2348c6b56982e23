"""ckptsync.transformers: a real transformers Trainer on a tiny GPT-2 built from a config (no download)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from ckptsync import Client
from ckptsync.transformers import CkptsyncCallback, resume_from

VOCAB, EMBD = 16384, 128
FROZEN_BYTES = VOCAB * EMBD * 4  # the token embedding (tied to the output layer), frozen as in fine-tuning


def tiny_gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=EMBD, n_layer=1, n_head=4, bos_token_id=0, eos_token_id=0))
    model.transformer.wte.weight.requires_grad_(False)
    return model


class Tokens(torch.utils.data.Dataset):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(1)
        self.ids = torch.randint(0, VOCAB, (8, 16), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class FirstStep(TrainerCallback):
    def __init__(self) -> None:
        self.first: int | None = None

    def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if self.first is None:
            self.first = state.global_step


def make_trainer(out: Path, max_steps: int, callbacks: list) -> Trainer:  # type: ignore[type-arg]
    args = TrainingArguments(output_dir=str(out), max_steps=max_steps, save_steps=2, save_total_limit=2, per_device_train_batch_size=4, learning_rate=1e-3, report_to="none", use_cpu=True, logging_steps=100, dataloader_num_workers=0, disable_tqdm=True)
    return Trainer(model=tiny_gpt2(), args=args, train_dataset=Tokens(), callbacks=callbacks)


def test_kept_checkpoints_are_the_remotes_names_and_training_resumes_by_name(tmp_path: Path, local_remote: str) -> None:
    cb = CkptsyncCallback(local_remote, prefix="run1/")
    make_trainer(tmp_path / "out", 6, [cb]).train()  # saves at steps 2, 4 and 6; keeps the last two

    assert sorted(os.listdir(tmp_path / "out")) == ["checkpoint-4", "checkpoint-6"]
    assert Client().names("run1/", remote=local_remote) == ["run1/checkpoint-4", "run1/checkpoint-6"]
    ups = cb.uploads
    assert [u.name for u in ups] == ["run1/checkpoint-2", "run1/checkpoint-4", "run1/checkpoint-6"]
    assert ups[0].result.bytes_uploaded >= FROZEN_BYTES
    for u in ups[1:]:  # only what changed: the frozen embedding and the unchanged files are there already
        assert u.result.bytes_already_there >= FROZEN_BYTES
        assert u.result.bytes_uploaded < u.result.bytes_total - FROZEN_BYTES + (1 << 20)
    print("\ntransformers per save:", [(u.name, u.result.bytes_total, u.result.bytes_uploaded, round(u.seconds, 3)) for u in ups])
    print(f"transformers on_save in the loop {cb.on_save_seconds:.3f} s in all; on_train_end waited {cb.waited_seconds:.3f} s")
    cb.close()

    # Elsewhere, with an empty cache: resume from the name of step 4 and go on to step 8.
    os.environ["CKPTSYNC_CACHE"] = str(tmp_path / "cache2")
    path = resume_from("run1/checkpoint-4", remote=local_remote)
    assert sorted(os.listdir(path)) == sorted(os.listdir(tmp_path / "out" / "checkpoint-4"))
    first = FirstStep()
    trainer = make_trainer(tmp_path / "out2", 8, [first])
    trainer.train(resume_from_checkpoint=path)
    assert first.first == 4
    assert trainer.state.global_step == 8
