"""Sample pictures for run directories: image grids, 2-D scatter plots, 4-vector heat maps."""

from __future__ import annotations

import io

import torch

__all__ = ["render_samples", "grid_png", "image_grid"]


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) → (C, H', W'): ``nrow`` images per row, ``padding`` pixels of ``pad_value``
    around each (torchvision's ``make_grid`` layout, without importing torchvision: that import
    costs seconds, inside the first sample grid of a run's training time)."""
    n, c, h, w = images.shape
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    grid = images.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def grid_png(images: torch.Tensor, nrow: int = 8) -> bytes:
    """(N, C, H, W) in [0, 1] → PNG bytes of a grid (grey for one channel, else RGB)."""
    from PIL import Image

    grid = image_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def render_samples(fake: torch.Tensor, real: torch.Tensor | None = None, *, nrow: int = 8, title: str = "") -> bytes:
    """PNG bytes showing ``fake`` samples in data space, with ``real`` for reference where useful."""
    fake = fake.detach().float().cpu()
    if fake.dim() == 4:
        return grid_png(fake, nrow=nrow)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if fake.dim() == 2 and fake.shape[1] == 2:  # 2-D mixtures: scatter over the real modes
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        if real is not None:
            ax.scatter(real[:, 0], real[:, 1], s=4, c="#1f77b4", alpha=0.35, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=4, c="#d62728", alpha=0.5, label="generated")
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(title or "samples")
        return _figure_png(fig)
    if fake.dim() == 2:  # short vectors (the 1010 pattern): one row per sample
        fig, ax = plt.subplots(figsize=(4, 0.25 * min(len(fake), 16) + 1.2))
        im = ax.imshow(fake[:16].numpy(), vmin=0, vmax=1, cmap="Blues", aspect="auto")
        ax.set_xlabel("position")
        ax.set_ylabel("sample")
        ax.set_xticks(range(fake.shape[1]))
        fig.colorbar(im, ax=ax, label="value")
        ax.set_title(title or "generated vectors")
        return _figure_png(fig)
    if fake.dim() == 3:  # audio windows (B, 1, T): waveforms
        fig, axes = plt.subplots(min(4, len(fake)), 1, figsize=(8, 4), sharex=True)
        for ax, wav in zip(list(axes) if hasattr(axes, "__len__") else [axes], fake.reshape(len(fake), -1)):
            ax.plot(wav.numpy(), lw=0.4)
        return _figure_png(fig)
    raise ValueError(f"cannot render samples of shape {tuple(fake.shape)}")
