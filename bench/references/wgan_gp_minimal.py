"""wgan_gp in the fewest lines: the same maths as ganbench's ``wgan_gp``, data preloaded.

MLP G (100 → 512 → 512 → 784, ReLU, Tanh) and critic (784 → 512 → 512 → 1, LeakyReLU 0.2),
Adam lr 1e-4 betas (0.0, 0.9), critic loss E[D(fake)] − E[D(real)] + 10·E[(‖∇D(x̂)‖ − 1)²] at
random interpolates, a critic update every step and a G update (−E[D(G(z))]) every 5th step.
The notes have no code for this GAN, so it has no ``seed`` reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn

CYCLE = 5  # one G update per 5 critic updates: a timed call runs 5 loop iterations


def make_step(real01: torch.Tensor, device: torch.device):
    G = nn.Sequential(nn.Linear(100, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 784),
                      nn.Tanh()).to(device)
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 512), nn.LeakyReLU(0.2),
                      nn.Linear(512, 1)).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.9))
    x = real01.reshape(real01.shape[0], -1) * 2.0 - 1.0
    b = x.shape[0]

    def step():
        for i in range(CYCLE):
            fake = G(torch.randn(b, 100, device=device)).detach()
            eps = torch.rand(b, 1, device=device)
            x_hat = (eps * x + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
            opt_d.zero_grad()
            (D(fake).mean() - D(x).mean() + 10.0 * gp).backward()
            opt_d.step()
            if i == CYCLE - 1:
                opt_g.zero_grad()
                (-D(G(torch.randn(b, 100, device=device))).mean()).backward()
                opt_g.step()

    return step
