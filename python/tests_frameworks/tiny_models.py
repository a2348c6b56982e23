"""Tiny models for the framework tests: a frozen 8 MiB backbone (two 1024x1024 layers, as in fine-tuning)
under a small trainable head, so consecutive checkpoints share the backbone's chunks and differ in the head
and optimizer state. Trains in well under a second per epoch on a CPU."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

WIDTH = 1024
FROZEN_BYTES = 2 * WIDTH * WIDTH * 4  # the two frozen weight matrices, float32


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(WIDTH, WIDTH, bias=False), nn.Tanh(), nn.Linear(WIDTH, WIDTH, bias=False), nn.Tanh())
        for p in self.backbone.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) / WIDTH**0.5)
            p.requires_grad_(False)
        self.head = nn.Linear(WIDTH, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)).squeeze(-1)


def dataset(n: int = 32, seed: int = 1) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, WIDTH, generator=g)
    y = x[:, :8].sum(dim=1)  # learnable from the input: the loss falls epoch after epoch
    return torch.utils.data.TensorDataset(x, y)


def tensor_digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()
