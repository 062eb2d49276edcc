"""``dcgan`` — the course notes' anime-face DCGAN (section DCGAN生成动漫; Radford et al. 2016).

The classic 64×64 DCGAN: G maps z (100×1×1) through ``ConvTranspose2d`` 100 → 512 → 256 →
128 → 64 → 3 with BatchNorm + ReLU and a final Tanh; D mirrors it with ``Conv2d`` 3 → 64 →
128 → 256 → 512 → 1, BatchNorm after every hidden conv + LeakyReLU(0.2), and a final
Sigmoid. No biases.
Weights N(0, 0.02) for convs, BatchNorm weights N(1, 0.02) and biases 0. BCELoss, Adam lr 1e-4
with betas (0.5, 0.999), batch 8, 40 epochs. Data: Resize 64, CenterCrop 64, Normalize(0.5, 0.5)
to [-1, 1].

Seed schedule kept: **one** D step on the summed loss ``BCE(D(x), 1) + BCE(D(G(z).detach()), 0)``,
then a G step that **reuses the same fake batch** ``G(z)`` (no fresh z) — unlike the MLP GANs.
``fresh_z_for_g=True`` draws a new z for the G step instead. The seed's D has BatchNorm
directly after its first conv, unlike the DCGAN paper; kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .core import GAN, Phase, StepContext, bce_logits

__all__ = ["DCGANConfig", "Generator", "Discriminator", "DCGAN", "weights_init"]


@dataclass
class DCGANConfig:
    z_dim: int = 100  # latent channels (z is z_dim×1×1)
    ngf: int = 64  # G's base width: 8·ngf → 4·ngf → 2·ngf → ngf
    ndf: int = 64  # D's base width: ndf → 2·ndf → 4·ndf → 8·ndf
    lr: float = 1e-4  # Adam learning rate of both nets (seed: 1e-4)
    lr_d: float | None = None  # D's own learning rate when set
    beta1: float = 0.5  # Adam betas (seed: (0.5, 0.999))
    beta2: float = 0.999
    fresh_z_for_g: bool = False  # seed: the G step reuses the D step's fake batch
    channels_last: bool = False  # memory format for the conv layers (a CUDA speed option)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, ngf: int = 64):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(z_dim, ngf * 8, 4, 1, 0, bias=False),  # (z,1,1) -> (512,4,4)
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # -> (256,8,8)
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # -> (128,16,16)
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # -> (64,32,32)
            nn.BatchNorm2d(ngf),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False),  # -> (3,64,64)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, z, 1, 1) -> (B, 3, 64, 64)
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, ndf: int = 64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False),  # (3,64,64) -> (64,32,32)
            nn.BatchNorm2d(ndf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # -> (128,16,16)
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),  # -> (256,8,8)
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),  # -> (512,4,4)
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),  # -> (1,1,1)
            nn.Sigmoid(),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # (B,3,64,64) -> (B,)
        return self.main[:-1](x).reshape(x.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def weights_init(m: nn.Module) -> None:
    """The seed's (and the DCGAN paper's) init: convs N(0, 0.02); BatchNorm N(1, 0.02), bias 0."""
    classname = m.__class__.__name__
    if "Conv" in classname:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in classname:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGAN(GAN):
    Config = DCGANConfig
    seed_section = "DCGAN生成动漫 (anime DCGAN)"
    summary = "classic 64×64 DCGAN, BN, Tanh, Adam 1e-4 β=(0.5, 0.999), batch 8, one D step"
    gate = {"quick": {"batch_size": 2}}
    references = {"seed": "bench.references.dcgan_seed", "minimal": "bench.references.dcgan_minimal"}
    data_shape = (3, 64, 64)
    value_range = (-1.0, 1.0)
    default_dataset = "photos"
    default_batch_size = 8
    default_epochs = 40

    def __init__(self, config: DCGANConfig):
        super().__init__(config)
        self.G = Generator(config.z_dim, config.ngf)
        self.D = Discriminator(config.ndf)
        self.G.apply(weights_init)
        self.D.apply(weights_init)
        if config.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)

    def latent(self, n, *, device=None, generator=None):
        return torch.randn((n, self.config.z_dim, 1, 1), device=device or self.device, generator=generator)

    def prepare(self, x01):
        x = x01 * 2.0 - 1.0  # Normalize(mean=0.5, std=0.5)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def d_logits(self, x, labels=None):
        return self.D.logits(x)

    def phases(self) -> list[Phase]:
        def d(ctx: StepContext) -> torch.Tensor:
            # (1) one D step on the summed loss: real → 1, G(z).detach() → 0
            real_logits = self.D.logits(ctx.real)
            fake = self.G(self.latent(ctx.batch_size, device=ctx.real.device))
            ctx.cache["fake"] = fake  # the seed's G step reuses this batch
            fake_logits = self.D.logits(fake.detach())
            loss_real, loss_fake = bce_logits(real_logits, 1.0), bce_logits(fake_logits, 0.0)
            ctx.report("d/real", torch.sigmoid(real_logits))
            ctx.report("d/fake", torch.sigmoid(fake_logits))
            ctx.report("loss/d_real", loss_real)
            ctx.report("loss/d_fake", loss_fake)
            ctx.report("loss/d", (loss_real + loss_fake) / 2)  # per-term mean; the seed logs the sum
            return loss_real + loss_fake

        def g(ctx: StepContext) -> torch.Tensor:
            # (2) G step through the updated D on the same fake batch (seed), target 1
            if self.config.fresh_z_for_g:
                fake = self.G(self.latent(ctx.batch_size, device=ctx.real.device))
            else:
                fake = ctx.cache.pop("fake")
            logits = self.D.logits(fake)
            ctx.report("d/fake_g", torch.sigmoid(logits))
            loss = bce_logits(logits, 1.0)
            ctx.report("loss/g", loss)
            return loss

        return [Phase("d", "D", d), Phase("g", "G", g)]
