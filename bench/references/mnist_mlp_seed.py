"""The course notes' MNIST GAN (section MINST), as written, moved to the device.

The classes are the notes' own: Sigmoid outputs, ``nn.BCELoss``, one Adam (lr 1e-4) per
network built inside the module, a ``train`` method per network that logs ``loss.item()``
every 10 calls, targets built with ``torch.ones(...).to(device)`` on every call, and latent
codes from ``generate_random_seed``. Two changes only: ``.cuda()`` becomes ``.to(device)``
(so the script runs on the CPU too), and the plotting calls are left out.

``make_step(real, device)`` is one iteration of the notes' training loop on a batch that is
already on the device; ``train(loader, device)`` is the notes' epoch loop, and
``load_dataset(batch_size, root)`` the notes' loader: torchvision's dataset class with
``transforms.ToTensor()`` (a PIL image and its conversion per item), shuffled, 4 workers. The
notes read MNIST; here it is Fashion-MNIST, whose torchvision class is MNIST's with other files.
``write_torchvision_layout`` lays images out as torchvision's class reads them.
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn

CYCLE = 1  # loop iterations per timed call


def generate_random_seed(size, device):
    return torch.randn(size).to(device)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.s1 = nn.Sequential(
            nn.Linear(784, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 1), nn.Sigmoid()
        )
        self.loss_fn = nn.BCELoss()
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-4)
        self.counter = 0
        self.progress = []

    def forward(self, input):
        return self.s1(input)

    def train(self, input, target):
        output = self.forward(input)
        loss = self.loss_fn(output, target)
        self.counter += 1
        if self.counter % 10 == 0:
            self.progress.append(loss.item())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.s1 = nn.Sequential(
            nn.Linear(100, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 784), nn.Sigmoid()
        )
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-4)
        self.counter = 0
        self.progress = []

    def forward(self, input):
        return self.s1(input)

    def train(self, D: Discriminator, input, target):
        d_output = D(input)
        loss = D.loss_fn(d_output, target)
        self.counter += 1
        if self.counter % 10 == 0:
            self.progress.append(loss.item())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def iteration(generator, discriminator, img, device):
    """One pass of the notes' inner loop body."""
    BATCH_SIZE = img.shape[0]
    b_x = img.view(-1, 28, 28)
    image = b_x.view(BATCH_SIZE, 28 * 28).to(device)
    discriminator.train(input=image, target=torch.ones(BATCH_SIZE, 1).to(device))
    discriminator.train(
        input=generator(generate_random_seed((BATCH_SIZE, 100), device)).detach(),
        target=torch.zeros(BATCH_SIZE, 1).to(device),
    )
    generator.train(
        D=discriminator,
        input=generator(generate_random_seed((BATCH_SIZE, 100), device)),
        target=torch.ones(BATCH_SIZE, 1).to(device),
    )


def make_step(real01: torch.Tensor, device: torch.device):
    """real01: (B, 1, 28, 28) in [0, 1] (``transforms.ToTensor()``), on the device."""
    generator = Generator().to(device)
    discriminator = Discriminator().to(device)

    def step():
        iteration(generator, discriminator, real01, device)

    return step


def train(loader, device, epochs: int = 1):
    """The notes' epoch loop over a loader of ``(img, target)`` batches."""
    generator = Generator().to(device)
    discriminator = Discriminator().to(device)
    for _ in range(epochs):
        for img, _target in loader:
            iteration(generator, discriminator, img, device)
    return generator, discriminator


def write_torchvision_layout(
    root: str, train_u8: torch.Tensor, train_y: torch.Tensor, test_u8: torch.Tensor, test_y: torch.Tensor
) -> None:
    """Write (N, 28, 28) uint8 images and their labels as ``root/FashionMNIST/raw/*-idx?-ubyte``."""
    from gans.data.mnist import idx_bytes

    raw = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for split, x, y in (("train", train_u8, train_y), ("t10k", test_u8, test_y)):
        with open(os.path.join(raw, f"{split}-images-idx3-ubyte"), "wb") as f:
            f.write(idx_bytes(x.reshape(-1, 28, 28).to(torch.uint8).numpy()))
        with open(os.path.join(raw, f"{split}-labels-idx1-ubyte"), "wb") as f:
            f.write(idx_bytes(y.to(torch.uint8).numpy()))


def load_dataset(batch_size: int, root: str, *, num_workers: int = 4, drop_last: bool = False):
    """The notes' ``load_dataset``: ``datasets.<class>(root, train=True, transform=ToTensor())`` in a
    shuffled DataLoader with 4 workers. ``drop_last=True`` is the one change a batch size that does
    not divide 60,000 needs: the notes' ``view(BATCH_SIZE, 784)`` fails on a partial last batch."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    train_data = datasets.FashionMNIST(root=root, train=True, transform=transforms.ToTensor(), download=False)
    return DataLoader(
        dataset=train_data, batch_size=batch_size, shuffle=True, num_workers=num_workers, drop_last=drop_last
    )
