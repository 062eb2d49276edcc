"""``celeba_conv`` — the course notes' convolutional face GAN (section DCGAN生成人脸).

D: three ``Conv2d(k=8, s=2)`` layers 3 → 256 → 256 → 3 with BatchNorm and GELU, taking a
3×128×128 centre crop to 3×10×10, then ``Linear(300, 1) → Sigmoid``.
G: ``Linear(100, 3·11·11) → GELU``, viewed as 3×11×11, then three ``ConvTranspose2d(k=8, s=2)``
layers 3 → 256 → 256 → 3 (the last with padding 1) with BatchNorm and GELU, a final
``BatchNorm2d(3)`` and Sigmoid → 3×128×128 in [0, 1].
BCELoss, Adam lr 1e-4 (default betas), 8 epochs.

Seed quirks kept by default:

* **batch 1**: the seed views D's features as ``(300,)`` and G's as ``(1, 3, 11, 11)``, so it
  can only run one image at a time; here the views keep the batch dimension, so any batch size
  works, and the default is the seed's 1 (it prints ``batch_size: 2048`` but never uses it).
* BatchNorm at batch 1 normalises over the spatial positions of a single image, as in the seed.
* The MLP GANs' schedule: two D steps (real, then ``G(z1).detach()``), then G on a fresh ``z2``.
* Centre crop 128×128 of the 218×178 CelebA images (the seed's ``crop_centre``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .core import GAN, Phase, seed_bce_phases

__all__ = ["CelebAConvConfig", "Generator", "Discriminator", "CelebAConvGAN"]


@dataclass
class CelebAConvConfig:
    z_dim: int = 100  # latent size
    channels: int = 256  # width of the hidden conv layers (seed: 256)
    lr: float = 1e-4  # Adam learning rate of both nets
    lr_d: float | None = None  # D's own learning rate when set
    beta1: float = 0.9  # Adam betas (seed: torch defaults)
    beta2: float = 0.999
    channels_last: bool = False  # memory format for the conv layers (a CUDA speed option)


class Discriminator(nn.Module):
    def __init__(self, ch: int = 256):
        super().__init__()
        self.s1 = nn.Sequential(
            nn.Conv2d(3, ch, kernel_size=8, stride=2),  # (3,128,128) -> (ch,61,61)
            nn.BatchNorm2d(ch),
            nn.GELU(),
            nn.Conv2d(ch, ch, kernel_size=8, stride=2),  # -> (ch,27,27)
            nn.BatchNorm2d(ch),
            nn.GELU(),
            nn.Conv2d(ch, 3, kernel_size=8, stride=2),  # -> (3,10,10)
            nn.GELU(),
        )
        self.s2 = nn.Sequential(nn.Linear(3 * 10 * 10, 1), nn.Sigmoid())

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # (B,3,128,128) -> (B,)
        return self.s2[:-1](self.s1(x).reshape(x.shape[0], 3 * 10 * 10)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, ch: int = 256):
        super().__init__()
        self.s1 = nn.Sequential(nn.Linear(z_dim, 3 * 11 * 11), nn.GELU())
        self.s2 = nn.Sequential(
            nn.ConvTranspose2d(3, ch, kernel_size=8, stride=2),  # (3,11,11) -> (ch,28,28)
            nn.BatchNorm2d(ch),
            nn.GELU(),
            nn.ConvTranspose2d(ch, ch, kernel_size=8, stride=2),  # -> (ch,62,62)
            nn.BatchNorm2d(ch),
            nn.GELU(),
            nn.ConvTranspose2d(ch, 3, kernel_size=8, stride=2, padding=1),  # -> (3,128,128)
            nn.BatchNorm2d(3),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, z_dim) -> (B,3,128,128)
        return self.s2(self.s1(z).reshape(z.shape[0], 3, 11, 11))


class CelebAConvGAN(GAN):
    Config = CelebAConvConfig
    seed_section = "DCGAN生成人脸 (convolutional face GAN)"
    summary = "k8 s2 conv D / convT G on 128×128 centre crops, BCE, Adam 1e-4, batch 1"
    gate = {
        "quick": {"batch_size": 2, "overrides": {"channels": 32}},
        "full": {"batch_size": 8, "overrides": {"channels": 64}},
    }
    cpu_reduction = {"channels": 16}
    data_shape = (3, 128, 128)
    default_dataset = "photos"
    default_batch_size = 1
    default_epochs = 8

    def __init__(self, config: CelebAConvConfig):
        super().__init__(config)
        self.G = Generator(config.z_dim, config.channels)
        self.D = Discriminator(config.channels)
        if config.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)

    def prepare(self, x01):
        if self.config.channels_last:
            return x01.contiguous(memory_format=torch.channels_last)
        return x01

    def d_logits(self, x, labels=None):
        return self.D.logits(x)

    def phases(self) -> list[Phase]:
        return seed_bce_phases(self.D.logits, self.G, lambda n, dev: self.latent(n, device=dev))
