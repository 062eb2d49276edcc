"""``cgan`` — the conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial
Nets", arXiv:1411.1784; the seed notes' CGAN section, which gives no runnable code).

Both networks see the class label: G(z, y) and D(x, y). The paper feeds a one-hot y into both
MLPs (G: z → 200 ReLU and y → 1000 ReLU, joined into a 1200-unit layer; D: maxout units on x and
y). Choices made here, and why:

* **Label embedding** — ``y`` is an ``nn.Embedding(num_classes, embed_dim)`` concatenated to z
  (G) and to the flattened image (D). A learned embedding is the same as a one-hot input times
  a weight matrix (the paper's first layer on y), so this is the paper's conditioning with one
  matrix folded into the next layer.
* **Networks** — G: [z, e(y)] → 256 → 512 → 784, LeakyReLU(0.2) and LayerNorm between layers, Tanh
  output in [-1, 1] (the data are mapped from [0, 1]). D: [x, e(y)] → 512 → 256 → 1,
  LeakyReLU(0.2) and Dropout(0.3) (the paper's D uses dropout 0.5 with maxout; maxout is replaced by
  LeakyReLU, which is what later MLP CGAN references use), no final sigmoid: the BCE loss works
  from logits (same maths, stabler), ``d_prob`` applies the sigmoid.
* **Objective and schedule** — one D step on ``BCE(D(x, y), 1) + BCE(D(G(z, y), y), 0)`` using
  the real batch's labels for the fake batch (so the fake class mix matches the data), then one
  G step on a fresh z with the non-saturating loss ``BCE(D(G(z, y), y), 1)``.
* **Optimiser** — Adam lr 2e-4, betas (0.5, 0.999) (Radford et al. 2016). The paper used SGD with
  momentum and a decaying learning rate schedule tuned per run; Adam trains the small MLPs
  reliably in a few thousand steps, which is what the tests need.
* **Data** — the MNIST family at 28×28: ``digits`` by default (embedded, always present),
  ``mnist`` / ``fashion-mnist`` when present. ``ganbench train cgan`` saves one sample-grid row
  per class (the loop does this for conditional families).
* **Missing labels** — the ``fake`` data source (``--dry-run``) has no labels: when ``labels`` is
  None the phases, :meth:`CGAN.generate` and :meth:`CGAN.d_logits` draw uniform random classes
  with :meth:`GAN.sample_labels`, so timing and dry runs exercise the same code.
* **Bad labels** — :meth:`CGAN.generate` and :meth:`CGAN.d_logits` (the public surface) check the
  labels and raise ``UserError("label 10 is outside the classes 0–9")``; the training phases
  call the networks directly, because the check needs a device→host sync per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..base import UserError
from .core import GAN, Phase, StepContext, bce_logits

__all__ = ["CGANConfig", "CGenerator", "CDiscriminator", "CGAN", "check_labels"]


@dataclass
class CGANConfig:
    z_dim: int = 100  # latent size
    num_classes: int = 10  # classes of the label (MNIST family: 10 digits / garments)
    embed_dim: int = 50  # size of the learned label embedding fed to G and D
    hidden_g: int = 256  # G's first hidden width (the second is twice as wide)
    hidden_d: int = 512  # D's first hidden width (the second is half as wide)
    dropout: float = 0.3  # dropout in D (the paper: 0.5 with maxout units)
    lr: float = 2e-4  # Adam learning rate of both nets
    beta1: float = 0.5  # Adam betas (DCGAN's (0.5, 0.999))
    beta2: float = 0.999


def check_labels(labels: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    """Validate class labels for a batch of ``n`` (a user-facing check: it syncs the device)."""
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise UserError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.dim() != 1 or labels.shape[0] != n:
        raise UserError(f"expected {n} labels (one per sample), got shape {tuple(labels.shape)}")
    if n:
        lo, hi = int(labels.min()), int(labels.max())
        bad = lo if lo < 0 else hi if hi >= num_classes else None
        if bad is not None:
            raise UserError(f"label {bad} is outside the classes 0–{num_classes - 1}")
    return labels.long()


class CGenerator(nn.Module):
    def __init__(self, z_dim: int, num_classes: int, embed_dim: int, hidden: int, out: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = nn.Sequential(
            nn.Linear(z_dim + embed_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.LayerNorm(hidden),
            nn.Linear(hidden, 2 * hidden),
            nn.LeakyReLU(0.2),
            nn.LayerNorm(2 * hidden),
            nn.Linear(2 * hidden, out),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # (B, z), (B,) -> (B, out) in [-1, 1]
        return self.net(torch.cat([z, self.embed(labels)], 1))


class CDiscriminator(nn.Module):
    def __init__(self, inp: int, num_classes: int, embed_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = nn.Sequential(
            nn.Linear(inp + embed_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # (B, inp), (B,) -> logits (B,)
        return self.net(torch.cat([x, self.embed(labels)], 1)).squeeze(1)


class CGAN(GAN):
    Config = CGANConfig
    seed_section = "CGAN (Mirza & Osindero 2014)"
    summary = "conditional MLP GAN, label embedding in G and D, BCE, Adam 2e-4 β=(0.5, 0.999), 28×28"
    data_shape = (1, 28, 28)
    value_range = (-1.0, 1.0)
    default_dataset = "digits"
    default_batch_size = 64
    default_epochs = 100
    conditional = True
    num_classes = 10

    def __init__(self, config: CGANConfig):
        super().__init__(config)
        if config.num_classes < 2:
            raise UserError(f"cgan needs at least 2 classes, got num_classes={config.num_classes}")
        self.num_classes = config.num_classes  # instance value (the class default is 10)
        dim = 1
        for s in self.data_shape:
            dim *= s
        self.flat_dim = dim
        self.G = CGenerator(config.z_dim, config.num_classes, config.embed_dim, config.hidden_g, dim)
        self.D = CDiscriminator(dim, config.num_classes, config.embed_dim, config.hidden_d, config.dropout)

    def prepare(self, x01):
        return (x01 * 2.0 - 1.0).reshape(x01.shape[0], -1)  # (B, 1, 28, 28) in [0, 1] -> (B, 784) in [-1, 1]

    def to_data(self, x):
        return ((x + 1.0) / 2.0).reshape(x.shape[0], *self.data_shape)

    def _labels(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
        if labels is None:  # unlabelled data (fake source, dry runs): uniform random classes
            return self.sample_labels(n, device=device)
        return check_labels(labels, n, self.num_classes).to(device)

    def generate(self, z, labels=None):
        return self.G(z, self._labels(labels, z.shape[0], z.device))

    def d_logits(self, x, labels=None):
        x = x.reshape(x.shape[0], -1)
        return self.D(x, self._labels(labels, x.shape[0], x.device))

    def phases(self) -> list[Phase]:
        def labels_of(ctx: StepContext) -> torch.Tensor:
            if ctx.labels is None:  # no sync: random labels drawn on the device
                if "labels" not in ctx.cache:
                    ctx.cache["labels"] = self.sample_labels(ctx.batch_size, device=ctx.real.device)
                return ctx.cache["labels"]
            return ctx.labels

        def d(ctx: StepContext) -> torch.Tensor:
            # (1) one D step: (x, y) → 1, (G(z, y).detach(), y) → 0 with the batch's labels
            y = labels_of(ctx)
            real_logits = self.D(ctx.real, y)
            fake = self.G(self.latent(ctx.batch_size, device=ctx.real.device), y)
            fake_logits = self.D(fake.detach(), y)
            loss_real, loss_fake = bce_logits(real_logits, 1.0), bce_logits(fake_logits, 0.0)
            ctx.report("d/real", torch.sigmoid(real_logits))
            ctx.report("d/fake", torch.sigmoid(fake_logits))
            ctx.report("loss/d_real", loss_real)
            ctx.report("loss/d_fake", loss_fake)
            ctx.report("loss/d", (loss_real + loss_fake) / 2)  # per-term mean: equilibrium ln 2
            return loss_real + loss_fake

        def g(ctx: StepContext) -> torch.Tensor:
            # (2) G step on a fresh z, same labels, non-saturating target 1
            y = labels_of(ctx)
            logits = self.D(self.G(self.latent(ctx.batch_size, device=ctx.real.device), y), y)
            ctx.report("d/fake_g", torch.sigmoid(logits))
            loss = bce_logits(logits, 1.0)
            ctx.report("loss/g", loss)
            return loss

        return [Phase("d", "D", d), Phase("g", "G", g)]
