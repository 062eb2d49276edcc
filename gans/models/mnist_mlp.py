"""``mnist_mlp`` — the course notes' MNIST GAN (section MINST).

G: 100 → 200 → 784 and D: 784 → 200 → 1, each ``Linear → LeakyReLU → LayerNorm → Linear →
Sigmoid``; BCELoss, Adam lr 1e-4 (default betas), batch 96, 50 epochs, z ~ N(0, 1).
The notes claim a batch of 512 gives worse samples than 96 — ``ganbench compare-batch`` tests it.

Seed schedule kept: per step, D takes **two separate optimiser steps** (real images with
target 1, then ``G(z1).detach()`` with target 0), then G takes one step on a **fresh**
``z2``. Folding D's final Sigmoid into ``binary_cross_entropy_with_logits`` is the only change
(same maths, stabler); ``d_prob`` still exposes probabilities. The seed's loader crashes on a
partial last batch (``view(BATCH_SIZE, 784)``); here every epoch drops the partial batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .core import GAN, Phase, seed_bce_phases

__all__ = ["MLPGANConfig", "MLPGenerator", "MLPDiscriminator", "MLPGAN", "MnistMLPGAN"]


@dataclass
class MLPGANConfig:
    z_dim: int = 100  # latent size
    hidden_g: int = 200  # G's hidden width
    hidden_d: int = 200  # D's hidden width
    lr: float = 1e-4  # Adam learning rate of both nets
    lr_d: float | None = None  # D's own learning rate when set (e.g. to make D dominate)
    beta1: float = 0.9  # Adam betas (seed: torch defaults)
    beta2: float = 0.999


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, hidden: int, out: int):
        super().__init__()
        self.s1 = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(), nn.LayerNorm(hidden), nn.Linear(hidden, out), nn.Sigmoid()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, z_dim) -> (B, out) in [0, 1]
        return self.s1(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, inp: int, hidden: int):
        super().__init__()
        self.s1 = nn.Sequential(
            nn.Linear(inp, hidden), nn.LeakyReLU(), nn.LayerNorm(hidden), nn.Linear(hidden, 1), nn.Sigmoid()
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # (B, inp) -> (B,)
        return self.s1[:-1](x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # probabilities, as the seed
        return self.s1(x)


class MLPGAN(GAN):
    """The seed's MLP GAN schedule; subclasses fix the data shape."""

    def __init__(self, config: MLPGANConfig):
        super().__init__(config)
        dim = 1
        for s in self.data_shape:
            dim *= s
        self.flat_dim = dim
        self.G = MLPGenerator(config.z_dim, config.hidden_g, dim)
        self.D = MLPDiscriminator(dim, config.hidden_d)

    def prepare(self, x01):
        return x01.reshape(x01.shape[0], -1)  # (B, C, H, W) -> (B, C*H*W)

    def to_data(self, x):
        return x.reshape(x.shape[0], *self.data_shape)

    def d_logits(self, x, labels=None):
        return self.D.logits(x.reshape(x.shape[0], -1))

    def phases(self) -> list[Phase]:
        return seed_bce_phases(self.D.logits, self.G, lambda n, dev: self.latent(n, device=dev))


class MnistMLPGAN(MLPGAN):
    Config = MLPGANConfig
    seed_section = "MINST (MNIST MLP GAN)"
    summary = "100→200→784 / 784→200→1 LeakyReLU+LayerNorm MLPs, BCE, Adam 1e-4, batch 96"
    gate = {"quick": {"batch_size": 96}}
    references = {"seed": "bench.references.mnist_mlp_seed", "minimal": "bench.references.mnist_mlp_minimal"}
    data_shape = (1, 28, 28)
    default_dataset = "auto"
    default_batch_size = 96
    default_epochs = 50
