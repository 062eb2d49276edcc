"""Synthetic sources: the 1010 GAN's pattern, the 2-D Gaussian mixtures and fake tensors.

The mixtures follow the mode-collapse protocol of VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018): ``ring8`` is 8 modes on a circle of radius 2 with std 0.02, ``grid25`` is
25 modes at {-4,-2,0,2,4}² with std 0.05. The centres are defined once here; the mode-counting
metric in ``diagnostics`` imports them, so data and metric cannot disagree.
"""

from __future__ import annotations

import math

import torch

from ..base import UserError, unknown_name
from .core import register_dataset, synthetic_data

__all__ = [
    "RING8_RADIUS",
    "RING8_STD",
    "GRID25_SPACING",
    "GRID25_STD",
    "check_mixture_centers",
    "ring8_centers",
    "grid25_centers",
    "mixture_centers",
]

#: Ring of 8 Gaussians (Metz et al. 2017 "Unrolled GANs"; VEEGAN): radius 2, std 0.02.
RING8_RADIUS = 2.0
RING8_STD = 0.02
#: 5x5 grid of Gaussians (VEEGAN / PacGAN): centres {-4,-2,0,2,4}^2, std 0.05.
GRID25_SPACING = 2.0
GRID25_STD = 0.05


def check_mixture_centers(
    centers: torch.Tensor,
    num_modes: int,
    *,
    std: float | None = None,
    threshold_sigmas: float = 3.0,
) -> None:
    """Raise ``ValueError`` unless ``centers`` are ``num_modes`` distinct 2-D+ points.

    With ``std`` given, additionally require the ``threshold_sigmas * std``
    balls around the centres to be disjoint, otherwise a high-quality sample
    could not be attributed to a single mode by :func:`mixture_modes`.
    """
    c = torch.as_tensor(centers).to(torch.float64)
    if c.ndim != 2 or c.shape[0] != num_modes:
        raise ValueError(f"expected {num_modes} mixture centres of shape ({num_modes}, D), got {tuple(c.shape)}")
    if not bool(torch.isfinite(c).all()):
        raise ValueError("mixture centres contain NaN/Inf")
    if num_modes > 1:
        d = torch.cdist(c, c, compute_mode="donot_use_mm_for_euclid_dist")
        d.fill_diagonal_(math.inf)
        min_sep = float(d.min())
        if min_sep <= 1e-9:
            raise ValueError(f"mixture centres are not distinct (closest pair {min_sep:.3g} apart)")
        if std is not None and min_sep <= 2.0 * threshold_sigmas * std:
            raise ValueError(
                f"mixture modes overlap: closest centres are {min_sep:.3g} apart but "
                f"{threshold_sigmas}-sigma balls need > {2.0 * threshold_sigmas * std:.3g}"
            )


def ring8_centers(radius: float = RING8_RADIUS) -> torch.Tensor:
    """Centres (8, 2) float64 of the 8-Gaussian ring, angles 2*pi*i/8 (use std 0.02)."""
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"ring8_centers: radius must be a positive finite number, got {radius}")
    angles = torch.arange(8, dtype=torch.float64) * (2.0 * math.pi / 8)
    centers = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    check_mixture_centers(centers, 8)
    return centers


def grid25_centers(spacing: float = GRID25_SPACING) -> torch.Tensor:
    """Centres (25, 2) float64 of the 5x5 grid, {-2,-1,0,1,2}*spacing squared (use std 0.05).

    Row-major order: x varies slowest.
    """
    if not (spacing > 0 and math.isfinite(spacing)):
        raise ValueError(f"grid25_centers: spacing must be a positive finite number, got {spacing}")
    ticks = torch.arange(-2, 3, dtype=torch.float64) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    centers = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    check_mixture_centers(centers, 25)
    return centers


def mixture_centers(name: str) -> tuple[torch.Tensor, float]:
    """Mode centres (K, 2) and per-mode std of the ``ring8`` or ``grid25`` mixture."""
    if name == "ring8":
        return ring8_centers().float(), RING8_STD
    if name == "grid25":
        return grid25_centers().float(), GRID25_STD
    raise unknown_name("mixture", name, ["ring8", "grid25"])


@register_dataset("pattern1010", "vector", "the 1010 GAN's real 4-vectors [0.8–1, 0–0.2, 0.8–1, 0–0.2]")
def _pattern1010(opts, shape, device):
    if shape != (4,):
        raise UserError(f"pattern1010 gives 4-vectors; this GAN takes {shape}")
    lo = torch.tensor([0.8, 0.0, 0.8, 0.0])

    def sampler(n, g):
        return lo + 0.2 * torch.rand((n, 4), generator=g)  # random.uniform on each range

    return synthetic_data(
        "pattern1010", shape, device, opts, sampler, 1, {"source": "embedded generator (seed's generate_real)"}
    )


def _mixture(name: str):
    def build(opts, shape, device):
        if shape != (2,):
            raise UserError(f"{name} gives 2-D points; this GAN takes {shape}")
        centers, std = mixture_centers(name)

        def sampler(n, g):
            k = torch.randint(centers.shape[0], (n,), generator=g)
            return centers[k] + std * torch.randn((n, 2), generator=g)

        return synthetic_data(
            name,
            shape,
            device,
            opts,
            sampler,
            10_000,
            {"modes": int(centers.shape[0]), "std": std, "source": "embedded Gaussian mixture"},
        )

    return build


register_dataset("ring8", "vector", "8 Gaussians on a circle of radius 2, std 0.02 (VEEGAN)")(_mixture("ring8"))
register_dataset("grid25", "vector", "25 Gaussians on a 5×5 grid, spacing 2, std 0.05 (PacGAN)")(_mixture("grid25"))


@register_dataset("fake", "any", "random tensors of the model's input shape (timing and dry runs only)")
def _fake(opts, shape, device):
    kind = "vector" if len(shape) == 1 else "image"
    return synthetic_data(
        "fake",
        shape,
        device,
        opts,
        lambda n, g: torch.rand((n, *shape), generator=g),
        1024,
        {"source": "torch.rand"},
        kind=kind,
    )
