"""The course notes' anime DCGAN (section DCGAN生成动漫), as written, moved to the device.

``Generator``, ``Discriminator``, ``weights_init`` and the body of ``train_DCGAN`` are the
notes' own: Sigmoid output, ``nn.BCELoss``, Adam lr 1e-4 betas (0.5, 0.999), one D step on
real + ``G(z).detach()``, one G step on the same fake batch, and ``g_loss.item()`` and
``d_loss.item()`` appended to the loss lists on every step. Plotting and printing are left out.
"""

from __future__ import annotations

import torch
import torch.nn as nn

CYCLE = 1


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels=3, out_channels=64, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(in_channels=64, out_channels=128, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(in_channels=128, out_channels=256, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(in_channels=256, out_channels=512, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(in_channels=512, out_channels=1, kernel_size=4, stride=1, padding=0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super(Generator, self).__init__()
        self.latent_dim = latent_dim
        self.main = nn.Sequential(
            nn.ConvTranspose2d(
                in_channels=latent_dim, out_channels=512, kernel_size=4, stride=1, padding=0, bias=False
            ),
            nn.BatchNorm2d(512),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(in_channels=512, out_channels=256, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(in_channels=256, out_channels=128, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(in_channels=128, out_channels=64, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(in_channels=64, out_channels=3, kernel_size=4, stride=2, padding=1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


def weights_init(m: nn.Module):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, mean=0.0, std=0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, mean=1.0, std=0.02)
        nn.init.constant_(m.bias.data, 0)


def make_step(real01: torch.Tensor, device: torch.device):
    """real01: (B, 3, 64, 64) in [0, 1]; the notes' Normalize(0.5, 0.5) is applied once, as its loader would."""
    G = Generator()
    G.apply(weights_init)
    D = Discriminator()
    D.apply(weights_init)
    D.to(device)
    G.to(device)
    optimizerD = torch.optim.Adam(D.parameters(), lr=0.0001, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(G.parameters(), lr=0.0001, betas=(0.5, 0.999))
    loss_fn = nn.BCELoss()
    G_losses, D_losses = [], []
    imgs = real01 * 2.0 - 1.0

    def step():
        real_Imgs = imgs.to(device)
        size = real_Imgs.shape
        fake_Imgs = torch.randn(size=(size[0], 100, 1, 1), device=device)
        optimizerD.zero_grad()
        real_ouput = D(real_Imgs).view(-1)
        d_real_loos = loss_fn(real_ouput, torch.ones_like(real_ouput))
        gen_img = G(fake_Imgs)
        fake_output = D(gen_img.detach()).view(-1)
        d_fake_loss = loss_fn(fake_output, torch.zeros_like(fake_output))
        d_loss = d_fake_loss + d_real_loos
        d_loss.backward()
        optimizerD.step()
        optimizerG.zero_grad()
        fake_output = D(gen_img).view(-1)
        g_loss = loss_fn(fake_output, torch.ones_like(fake_output))
        g_loss.backward()
        optimizerG.step()
        G_losses.append(g_loss.item())
        D_losses.append(d_loss.item())

    return step
