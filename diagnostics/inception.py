"""The ``inception`` feature extractor's network: torchmetrics' InceptionV3 with torch-fidelity's FID weights.

Split out of :mod:`diagnostics.features` (which registers it as ``inception`` and documents when ``auto`` picks
it). ganbench never downloads the weights: :func:`inception_available` is true only when torch-fidelity is
importable and its FID weights file is on disk (``$GANBENCH_INCEPTION_WEIGHTS``, or the torch hub cache's
``checkpoints/`` folder).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import torch
import torch.nn as nn

from gans.base import UserError

__all__ = ["INCEPTION_WEIGHTS_ENV", "INCEPTION_WEIGHTS_FILE", "inception_available", "build_inception"]

INCEPTION_WEIGHTS_ENV = "GANBENCH_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's FID weights


def inception_available() -> bool:
    """True when torch-fidelity is importable and its FID weights file is on disk (never downloads)."""
    if importlib.util.find_spec("torch_fidelity") is None:
        return False
    try:
        return inception_weights_path() is not None
    except UserError:
        return False


def inception_weights_path() -> Path | None:
    """The FID weights file: ``$GANBENCH_INCEPTION_WEIGHTS`` (which must exist), else the hub cache's, else None."""
    env = os.environ.get(INCEPTION_WEIGHTS_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise UserError(
                f"${INCEPTION_WEIGHTS_ENV}={env}: no such file; point it at torch-fidelity's {INCEPTION_WEIGHTS_FILE}"
            )
        return p
    p = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    return p if p.is_file() else None


class _InceptionAdapter(nn.Module):
    """[0, 1] float images (any channels/size) → uint8 RGB → NoTrainInceptionV3's 2048-d pool."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.num_features = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        return self.net(x).reshape(x.shape[0], -1)


def build_inception(device: torch.device) -> tuple[nn.Module, str, Path]:
    """(the network on ``device``, the SHA-256 of its weights file, the file); a UserError when either is missing."""
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        raise UserError(
            "the inception extractor needs torch-fidelity (pip install 'ganbench[inception]') and its FID weights file "
            f"{INCEPTION_WEIGHTS_FILE} on disk (set ${INCEPTION_WEIGHTS_ENV}=PATH or put it in "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}); "
            "ganbench never downloads it — or use --features classifier/random-conv"
        ) from None
    path = inception_weights_path()
    if path is None:
        raise UserError(
            f"InceptionV3 weights not found: put torch-fidelity's {INCEPTION_WEIGHTS_FILE} in "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'} "
            f"or set ${INCEPTION_WEIGHTS_ENV}=PATH (ganbench never downloads); or use --features classifier/random-conv"
        )
    from torchmetrics.image.fid import NoTrainInceptionV3

    net = NoTrainInceptionV3(
        name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
    )
    return _InceptionAdapter(net).to(device), hashlib.sha256(path.read_bytes()).hexdigest(), path
