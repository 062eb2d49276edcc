"""``celeba_mlp`` — the course notes' fully connected face GAN (section 全连接网络生成人脸).

D: 3·218·178 → 100 → 1 and G: 100 → 300 → 3·218·178, both ``Linear → LeakyReLU → LayerNorm →
Linear → Sigmoid``; BCELoss, Adam lr 1e-4, 8 epochs, data from the seed's CelebA h5 file
(group ``img_align_celeba``, datasets ``"0.jpg"``, ``"1.jpg"``, … of 218×178×3 uint8).

Seed quirks kept by default:

* **batch 1**: the seed feeds one image per step (``input.view(218*178*3)``) although it
  prints ``batch_size: 256``. Here any batch size works — the harness sweeps them — and the
  default is the seed's 1.
* **HWC layout**: the seed flattens the h5's height × width × channel array as it is, and G's
  output is viewed as ``(218, 178, 3)``; the same order is kept, so weights are interchangeable
  with the seed's.
* The MNIST GAN's schedule: two D steps (real, then ``G(z1).detach()``), then a G step on a
  fresh ``z2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .mnist_mlp import MLPGAN

__all__ = ["CelebAMLPConfig", "CelebAMLPGAN"]


@dataclass
class CelebAMLPConfig:
    z_dim: int = 100  # latent size
    hidden_g: int = 300  # G's hidden width (seed: 3*10*10)
    hidden_d: int = 100  # D's hidden width
    lr: float = 1e-4  # Adam learning rate of both nets
    lr_d: float | None = None  # D's own learning rate when set
    beta1: float = 0.9  # Adam betas (seed: torch defaults)
    beta2: float = 0.999


class CelebAMLPGAN(MLPGAN):
    Config = CelebAMLPConfig
    seed_section = "全连接网络生成人脸 (fully connected face GAN)"
    summary = "100→300→3·218·178 / 3·218·178→100→1 MLPs on CelebA h5, batch 1"
    gate = {"quick": {"batch_size": 1}}
    data_shape = (3, 218, 178)
    default_dataset = "photos"
    default_batch_size = 1
    default_epochs = 8

    def prepare(self, x01: torch.Tensor) -> torch.Tensor:
        # (B, 3, 218, 178) -> (B, 218, 178, 3) -> (B, 116412): the seed's HWC flattening
        return x01.permute(0, 2, 3, 1).reshape(x01.shape[0], -1)

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], 218, 178, 3).permute(0, 3, 1, 2)

    def d_logits(self, x, labels=None):
        if x.dim() == 4 and x.shape[1] == 3:  # data-space images
            x = self.prepare(x)
        return self.D.logits(x.reshape(x.shape[0], -1))
