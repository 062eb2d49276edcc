"""``pattern1010`` — the course notes' first GAN (section 生成1010格式, "generate the 1010 pattern").

Real data are 4-vectors [0.8–1, 0–0.2, 0.8–1, 0–0.2]. G is a 1 → 3 → 4 sigmoid MLP, D a
4 → 3 → 1 sigmoid MLP, both trained with MSELoss and SGD at lr 0.01, batch 1, for 10,000
epochs. At equilibrium D outputs 0.5 on everything and every MSE term is 0.25.

Seed quirks kept by default (each switchable in :class:`Pattern1010Config`):

* ``fresh_real=False`` — the seed draws *one* real sample before the loop and trains on it
  10,000 times; ``fresh_real=True`` draws a new real sample every step.
* ``latent="fixed"`` — G's input is the constant 0.5, so G learns one output, not a
  distribution; ``latent="uniform"`` feeds U(0, 1) instead.
* ``pretrain_d_steps=10000`` — the seed's ``__main__`` first trains D alone (``train_D``) on
  one fixed real sample against one fixed uniform-noise vector, then hands that D to
  ``train_G``. Set 0 to start from a fresh D.
* Two D steps per epoch (real, then fake from ``G(0.5).detach()``) then a G step on a fresh
  ``G(0.5)`` forward pass — three optimiser steps per training step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .core import GAN, Phase, StepContext, sgd

__all__ = ["Pattern1010Config", "Generator", "Discriminator", "Pattern1010GAN"]


@dataclass
class Pattern1010Config:
    lr: float = 0.01  # SGD learning rate for both nets (seed: 1e-2)
    fresh_real: bool = False  # seed: one real sample drawn once and reused every step
    latent: Literal["fixed", "uniform"] = "fixed"  # seed: G's input is the constant 0.5
    pretrain_d_steps: int = 10000  # seed's train_D: D alone vs one fixed noise vector first
    hidden: int = 3  # hidden units of both MLPs (seed: 3)


class Generator(nn.Module):
    def __init__(self, hidden: int = 3):
        super().__init__()
        self.s1 = nn.Sequential(nn.Linear(1, hidden), nn.Sigmoid(), nn.Linear(hidden, 4), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, 1) -> (B, 4)
        return self.s1(z)


class Discriminator(nn.Module):
    def __init__(self, hidden: int = 3):
        super().__init__()
        self.s1 = nn.Sequential(nn.Linear(4, hidden), nn.Sigmoid(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 1) probabilities
        return self.s1(x)


class Pattern1010GAN(GAN):
    Config = Pattern1010Config
    seed_section = "生成1010格式 (generate the 1010 pattern)"
    summary = "1→3→4 / 4→3→1 sigmoid MLPs, MSE, SGD 0.01, batch 1"
    gate = {"quick": {"batch_size": 256}}
    data_shape = (4,)
    value_range = None
    loss_kind = "mse"
    default_dataset = "pattern1010"
    default_batch_size = 1
    default_epochs = 10000  # one step per epoch: the seed's 10,000 epochs of one sample
    dry_run_overrides = {"pretrain_d_steps": 2}  # a dry run skips most of the 20,000 pre-training updates

    def __init__(self, config: Pattern1010Config):
        super().__init__(config)
        self.G = Generator(config.hidden)
        self.D = Discriminator(config.hidden)
        # the one real sample of the seed (fresh_real=False), captured from the first batch
        self.register_buffer("fixed_real", torch.full((4,), float("nan")))
        self.register_buffer("pretrained", torch.zeros((), dtype=torch.bool))
        self._fixed_checked = False

    def build_optimizers(self) -> None:
        self.opt_d = sgd(self.D.parameters(), lr=self.config.lr)
        self.opt_g = sgd(self.G.parameters(), lr=self.config.lr)

    def latent(self, n, *, device=None, generator=None):
        device = device or self.device
        if self.config.latent == "fixed":
            return torch.full((n, 1), 0.5, device=device)
        return torch.rand((n, 1), device=device, generator=generator)

    def d_logits(self, x, labels=None):
        # D ends in a sigmoid trained with MSE (no BCE to fold it into): return its logit
        return torch.logit(self.D(x).squeeze(1), eps=1e-7)

    def d_prob(self, x, labels=None):
        return self.D(x).squeeze(1)

    # The seed trains on the probability, with MSE, exactly as written.
    def _real(self, ctx: StepContext) -> torch.Tensor:
        if self.config.fresh_real:
            return ctx.real
        if not self._fixed_checked:  # once per process: one sync, never per step
            if torch.isnan(self.fixed_real).any():
                self.fixed_real.copy_(ctx.real[0])
            self._fixed_checked = True
        return self.fixed_real.expand_as(ctx.real)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        self._fixed_checked = False
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def before_training(self, real: torch.Tensor, labels=None) -> None:
        """The seed's ``train_D``: D alone on one real sample vs one fixed uniform vector."""
        steps = self.config.pretrain_d_steps
        if steps <= 0 or bool(self.pretrained):
            return
        real = real[:1].reshape(1, 4)
        fake = torch.rand(1, 4, device=real.device)
        for _ in range(steps):
            for x, target in ((real, 1.0), (fake, 0.0)):
                self.opt_d.zero_grad(set_to_none=True)
                F.mse_loss(self.D(x), torch.full((1, 1), target, device=x.device)).backward()
                self.opt_d.step()
        self.pretrained.fill_(True)

    def phases(self) -> list[Phase]:
        def d_real(ctx: StepContext) -> torch.Tensor:
            # (1) D on the real sample, target 1
            p = self.D(self._real(ctx))
            ctx.report("d/real", p)
            loss = F.mse_loss(p, torch.ones_like(p))
            ctx.report("loss/d_real", loss)
            return loss

        def d_fake(ctx: StepContext) -> torch.Tensor:
            # (2) D on G(0.5).detach(), target 0
            z = self.latent(ctx.batch_size, device=ctx.real.device)
            p = self.D(self.G(z).detach())
            ctx.report("d/fake", p)
            loss = F.mse_loss(p, torch.zeros_like(p))
            ctx.report("loss/d_fake", loss)
            ctx.report("loss/d", (ctx.scalars["loss/d_real"] + loss.detach()) / 2)
            return loss

        def g(ctx: StepContext) -> torch.Tensor:
            # (3) G through D on a fresh forward pass, target 1
            z = self.latent(ctx.batch_size, device=ctx.real.device)
            p = self.D(self.G(z))
            ctx.report("d/fake_g", p)
            loss = F.mse_loss(p, torch.ones_like(p))
            ctx.report("loss/g", loss)
            return loss

        return [Phase("d_real", "D", d_real), Phase("d_fake", "D", d_fake), Phase("g", "G", g)]
