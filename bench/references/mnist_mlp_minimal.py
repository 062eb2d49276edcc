"""mnist_mlp in the fewest lines: the same maths as ganbench's ``mnist_mlp``, data preloaded.

G: 100 → 200 → 784 and D: 784 → 200 → 1 (Linear, LeakyReLU, LayerNorm, Linear), BCE on D's
logits, Adam lr 1e-4; per step two D updates (real → 1, G(z1).detach() → 0) and one G update
on a fresh z2 (→ 1). No logging, no grad norms, default (for-loop) Adam.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

CYCLE = 1


def build(device: torch.device):
    """step(x): one training step on a batch x of shape (B, 784) in [0, 1], already on the device."""
    G = nn.Sequential(nn.Linear(100, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 784), nn.Sigmoid())
    D = nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 1))
    G.to(device)
    D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4)

    def step(x):
        b = x.shape[0]
        ones, zeros = torch.ones(b, 1, device=device), torch.zeros(b, 1, device=device)
        for inp, target in ((x, ones), (G(torch.randn(b, 100, device=device)).detach(), zeros)):
            opt_d.zero_grad()
            F.binary_cross_entropy_with_logits(D(inp), target).backward()
            opt_d.step()
        opt_g.zero_grad()
        F.binary_cross_entropy_with_logits(D(G(torch.randn(b, 100, device=device))), ones).backward()
        opt_g.step()

    return step


def make_step(real01: torch.Tensor, device: torch.device):
    step, x = build(device), real01.reshape(real01.shape[0], -1)
    return lambda: step(x)


def train(x01: torch.Tensor, batch_size: int, device: torch.device, epochs: int = 1):
    """Whole epochs over a preloaded (N, 1, 28, 28) tensor in [0, 1], shuffled, partial batch dropped."""
    step, x = build(device), x01.reshape(x01.shape[0], -1).to(device)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], device=device)
        for i in range(x.shape[0] // batch_size):
            step(x[perm[i * batch_size : (i + 1) * batch_size]])
