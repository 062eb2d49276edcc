"""dcgan in the fewest lines: the same maths as ganbench's ``dcgan``, data preloaded.

The notes' 64×64 DCGAN (transposed-conv G with BatchNorm and Tanh, conv D with BatchNorm and
LeakyReLU 0.2, N(0, 0.02) init), BCE on D's logits, Adam lr 1e-4 betas (0.5, 0.999); one D
update on real → 1 plus G(z).detach() → 0, then one G update on the same fake batch → 1.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

CYCLE = 1


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def make_step(real01: torch.Tensor, device: torch.device):
    def up(i, o, s, p):
        return [nn.ConvTranspose2d(i, o, 4, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]

    def down(i, o, bn=True):
        return [nn.Conv2d(i, o, 4, 2, 1, bias=False)] + ([nn.BatchNorm2d(o)] if bn else []) + [nn.LeakyReLU(0.2, True)]

    G = nn.Sequential(*up(100, 512, 1, 0), *up(512, 256, 2, 1), *up(256, 128, 2, 1), *up(128, 64, 2, 1),
                      nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh()).to(device)
    D = nn.Sequential(*down(3, 64), *down(64, 128), *down(128, 256), *down(256, 512),
                      nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Flatten(0)).to(device)
    G.apply(_init)
    D.apply(_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))
    x = real01 * 2.0 - 1.0
    b = x.shape[0]
    ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)

    def step():
        fake = G(torch.randn(b, 100, 1, 1, device=device))
        opt_d.zero_grad()
        (F.binary_cross_entropy_with_logits(D(x), ones)
         + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        F.binary_cross_entropy_with_logits(D(fake), ones).backward()
        opt_g.step()

    return step
