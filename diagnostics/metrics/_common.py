"""Shared input validation of the metrics: every metric takes ``(N, D)`` float features."""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]

# Budget (number of float64 matrix entries) for one block of a pairwise-distance
# matrix.  2**22 entries = 32 MiB, so 10k x 10k PRDC never materialises the
# full 800 MB matrix (plus boolean temporaries of the same shape).
_BLOCK_ENTRIES = 2**22


def _to_tensor(x: object, name: str) -> torch.Tensor:
    """Convert a tensor / ndarray / nested sequence to a detached tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _as_features(
    x: object,
    role: str,
    metric: str,
    *,
    min_samples: int = 1,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Validate an ``(N, D)`` feature array and return it as float64.

    float64 throughout: these metrics subtract large, nearly-equal quantities
    (covariances, squared distances) where float32 loses several digits.
    """
    t = _to_tensor(x, f"{metric}: {role} features")
    if t.ndim != 2:
        raise ValueError(
            f"{metric} expects {role} features as a 2-D (N, D) array, got shape "
            f"{tuple(t.shape)}; flatten images or pass extracted features"
        )
    if t.shape[1] < 1:
        raise ValueError(f"{metric}: {role} features have feature dimension 0")
    if t.shape[0] < min_samples:
        raise ValueError(f"{metric} needs at least {min_samples} {role} samples, got {t.shape[0]}")
    if t.is_complex():
        raise ValueError(f"{metric}: {role} features must be real-valued, got {t.dtype}")
    t = t.to(torch.float64)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad_rows = int((~finite).any(dim=1).sum())
        raise ValueError(
            f"{metric}: {role} features contain non-finite values (NaN/Inf) in "
            f"{bad_rows} of {t.shape[0]} samples; drop or fix them first "
            f"(a diverged generator typically produces them)"
        )
    if device is not None:
        t = t.to(device)
    return t


def _check_same_dim(real: torch.Tensor, fake: torch.Tensor, metric: str) -> None:
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"{metric}: real features have D={real.shape[1]} but fake features have "
            f"D={fake.shape[1]}; both sets must come from the same feature extractor"
        )


def _check_positive_int(value: object, name: str, metric: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{metric}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _row_block(n_cols: int) -> int:
    """Rows per block so that a (rows, n_cols) float64 block fits the budget."""
    return max(1, _BLOCK_ENTRIES // max(1, n_cols))
