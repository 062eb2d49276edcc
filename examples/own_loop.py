"""A plain PyTorch GAN training loop of someone else's style, watched by ganbench and nothing more.

ganbench does not run this loop: it only reads D's outputs once per step (EquilibriumMonitor, no GPU sync per
step) and scores the samples at the end (evaluate). Run it with `python examples/own_loop.py [--steps N]`.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

import ganbench


def digits_28() -> torch.Tensor:
    """scikit-learn's 1,797 8×8 digits, upsampled to 28×28 in [0, 1]."""
    x = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16.0
    return F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = digits_28()
    G = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    monitor = ganbench.EquilibriumMonitor(logits=True, log_every=50)  # D outputs logits here

    for step in range(args.steps):
        real = data[torch.randint(len(data), (args.batch_size,))]
        fake = G(torch.randn(args.batch_size, 64))
        real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
        loss_d = (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))) / 2
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        g_logits = D(fake).squeeze(1)
        loss_g = bce(g_logits, torch.ones_like(g_logits))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        monitor.update(d_real=real_logits, d_fake=fake_logits, loss_d=loss_d, loss_g=loss_g)  # no sync
        if (step + 1) % 500 == 0:
            print(f"step {step + 1}: {monitor.verdict().message}")

    print("equilibrium:", monitor.flush().message)
    with torch.no_grad():
        samples = G(torch.randn(1000, 64))
    result = ganbench.evaluate(fake=samples, real="digits", n=1000)
    print(result)


if __name__ == "__main__":
    main()
