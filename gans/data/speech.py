"""The ``speech`` data source for SEGAN: (clean, noisy) windows of the corpus in ``speech_corpus.py``."""

from __future__ import annotations

import numpy as np
import torch

from ..base import UserError, cache_dir
from .core import Data, DataOptions, register_dataset
from .speech_corpus import build_speech_corpus

__all__ = ["speech_data", "SPEECH_UTTERANCES"]

#: utterances in the registered ``speech`` corpus (80 % train, 20 % held out)
SPEECH_UTTERANCES = 60


# ------------------------------------------------------------------------------ data source


def speech_data(
    shape: tuple[int, ...],
    opts: DataOptions | None = None,
    device: torch.device | str = "cpu",
    *,
    n_utterances: int = SPEECH_UTTERANCES,
    corpus_seed: int = 0,
) -> Data:
    """The ``speech`` data source: (clean, noisy) windows of ``shape = (1, T)`` on ``device``.

    The corpus (espeak-ng speech, white/babble noise at 0/5/10/15 dB, 50 % overlapping windows)
    is built once and cached under ``cache_dir()/speech``; the corpus itself is fixed by
    ``corpus_seed`` and does not change with the training seed (which only orders the batches).
    """
    opts = opts or DataOptions()
    if len(shape) != 2 or shape[0] != 1:
        raise UserError(f"speech gives mono windows (1, T); this GAN takes {shape}")
    T = int(shape[1])
    corpus = build_speech_corpus(
        cache_dir() / "speech", n_utterances=n_utterances, seed=corpus_seed, window=T, stride=T // 2, progress=False
    )
    dev = torch.device(device)
    clean = torch.from_numpy(corpus.train_clean).unsqueeze(1).to(dev)
    noisy = torch.from_numpy(corpus.train_noisy).unsqueeze(1).to(dev)
    n = clean.shape[0]
    test_c = [torch.from_numpy(w) for c in corpus.test_clean for w in _cut(c, T)]
    test_n = [torch.from_numpy(w) for c in corpus.test_noisy for w in _cut(c, T)]

    def epoch(bs: int, ep: int, skip: int, d: torch.device):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(opts.seed * 1_000_003 + ep)).to(clean.device)
        for b in range(skip, n // bs):
            idx = perm[b * bs : (b + 1) * bs]
            yield clean.index_select(0, idx).to(d), noisy.index_select(0, idx).to(d)

    def real(k: int, split: str, seed: int):
        if split == "train":
            xs, ys = clean.cpu(), noisy.cpu()
        else:
            xs, ys = torch.stack(test_c).unsqueeze(1), torch.stack(test_n).unsqueeze(1)
        if k > xs.shape[0]:
            raise UserError(f"asked for {k} real {split} windows but speech has {xs.shape[0]}")
        idx = torch.randperm(xs.shape[0], generator=torch.Generator().manual_seed(seed))[:k]
        return xs[idx], ys[idx]

    info = {
        "name": "speech",
        "n_train": n,
        "n_test_utterances": corpus.n_test,
        "n_test_windows": len(test_c),
        "window": T,
        "stride": T // 2,
        "sample_rate": corpus.sample_rate,
        "cache": corpus.meta.get("cache_path"),
        "espeak_version": corpus.meta.get("espeak_version"),
        "n_utterances": n_utterances,
        "source": "espeak-ng speech + white/babble noise (gans/data/speech.py)",
    }
    return Data("speech", (1, T), "audio", None, n, info, epoch, real, extra={"corpus": corpus})


def _cut(signal: np.ndarray, T: int) -> list[np.ndarray]:
    return [signal[i : i + T].astype(np.float32) for i in range(0, signal.shape[0] - T + 1, T)]


@register_dataset(
    "speech", "audio", "espeak-ng speech mixed with white/babble noise at 0–15 dB (SEGAN); x clean, y noisy"
)
def _speech(opts: DataOptions, shape: tuple[int, ...], device: torch.device) -> Data:
    return speech_data(shape, opts, device)
