"""A tiny MLP GAN for 28×28 images, written to ganbench's family contract (ganbench.GAN)."""

from dataclasses import dataclass

import torch.nn as nn

import ganbench


@dataclass
class TinyConfig:
    z_dim: int = 32  # every field is a setting: `ganbench train ... --set hidden=256`
    hidden: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999


class TinyGAN(ganbench.GAN):
    """Two-layer MLPs on 28×28 images, trained with the default non-saturating BCE schedule."""

    Config = TinyConfig
    data_shape = (1, 28, 28)
    default_dataset = "digits"

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        h = config.hidden
        self.G = nn.Sequential(nn.Linear(config.z_dim, h), nn.ReLU(), nn.Linear(h, 784), nn.Sigmoid())
        self.G.append(nn.Unflatten(1, self.data_shape))  # (B, 784) → (B, 1, 28, 28), in [0, 1] like the data
        self.D = nn.Sequential(nn.Flatten(), nn.Linear(784, h), nn.LeakyReLU(0.2), nn.Linear(h, 1))

    def d_logits(self, x, labels=None):
        return self.D(x).squeeze(1)
