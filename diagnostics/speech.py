"""Objective speech-enhancement metrics: global SNR and segmental SNR.

Segmental SNR (segSNR) is the mean over short frames of the per-frame SNR in dB
(Quackenbush, Barnwell & Clements, *Objective Measures of Speech Quality*,
Prentice Hall 1988, eq. 2.12), with each frame's value clamped to [-10, 35] dB
so that silent frames and perfectly reconstructed frames do not dominate the
mean (Hu & Loizou, "Evaluation of objective quality measures for speech
enhancement", IEEE TASLP 16(1), 2008). For frame ``m`` with clean samples
``x`` and estimate ``x_hat`` (both multiplied by the analysis window ``w``)::

    segSNR_m = 10 log10( sum (w x)^2 / (sum (w x - w x_hat)^2 + eps) + eps )
    segSNR   = mean_m clamp(segSNR_m, -10, 35)

The defaults follow P. C. Loizou's reference implementation (``comp_snr.m``,
*Speech Enhancement: Theory and Practice*, 2007), which is what SEGAN's
reported segSNR (Pascual et al. 2017, 7.73 dB on Valentini et al.) comes from:
30 ms frames (480 samples at 16 kHz), a hop of a quarter frame (120 samples,
75 % overlap), a Hann window ``0.5 (1 - cos(2 pi n / (N + 1)))``, n = 1..N,
``floor((L - N) / hop)`` frames (the reference's count, which leaves out the
last whole frame) and ``eps`` = 2.22e-16. ``hop=240, window="rect"`` gives the
other common variant (50 % overlap, rectangular frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gans.base import UserError
from gans.data import Data
from gans.data.speech_corpus import SpeechCorpus
from gans.models.segan import SEGAN, enhance

__all__ = ["segmental_snr", "segmental_snr_frames", "snr", "snr_improvement", "SNRImprovement", "evaluate_segan"]

_EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps, as in the reference code


def _pair(clean: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(clean, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if c.ndim != 1 or e.ndim != 1:
        raise ValueError(f"expected 1-D signals, got shapes {c.shape} and {e.shape}")
    if c.shape != e.shape:
        raise ValueError(
            f"clean ({c.shape[0]} samples) and estimate ({e.shape[0]} samples) must have the same "
            "length; trim both to the shorter one first"
        )
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(e))):
        raise ValueError("signals must be finite (no NaN or inf)")
    return c, e


def segmental_snr_frames(
    clean: np.ndarray,
    estimate: np.ndarray,
    *,
    sample_rate: int = 16000,
    frame_len: int | None = None,
    hop: int | None = None,
    window: str = "hann",
    min_db: float = -10.0,
    max_db: float = 35.0,
) -> np.ndarray:
    """Per-frame clamped SNRs in dB (see the module docstring for the definition)."""
    c, e = _pair(clean, estimate)
    frame_len = int(round(0.03 * sample_rate)) if frame_len is None else int(frame_len)
    hop = frame_len // 4 if hop is None else int(hop)
    if frame_len <= 0 or hop <= 0:
        raise ValueError(f"frame_len and hop must be positive, got {frame_len} and {hop}")
    n_frames = (c.shape[0] - frame_len) // hop
    if n_frames < 1:
        raise ValueError(
            f"signal of {c.shape[0]} samples is too short for segmental SNR "
            f"(needs at least {frame_len + hop} samples for frame_len={frame_len}, hop={hop})"
        )
    if window == "hann":
        n = np.arange(1, frame_len + 1, dtype=np.float64)
        w = 0.5 * (1.0 - np.cos(2.0 * np.pi * n / (frame_len + 1)))
    elif window == "rect":
        w = np.ones(frame_len)
    else:
        raise ValueError(f"window must be 'hann' or 'rect', got {window!r}")
    view = np.lib.stride_tricks.sliding_window_view
    cf = view(c, frame_len)[: n_frames * hop : hop] * w
    ef = view(e, frame_len)[: n_frames * hop : hop] * w
    signal = np.sum(cf**2, axis=1)
    noise = np.sum((cf - ef) ** 2, axis=1)
    seg = 10.0 * np.log10(signal / (noise + _EPS) + _EPS)
    return np.clip(seg, min_db, max_db)


def segmental_snr(
    clean: np.ndarray,
    estimate: np.ndarray,
    *,
    sample_rate: int = 16000,
    frame_len: int | None = None,
    hop: int | None = None,
    window: str = "hann",
    min_db: float = -10.0,
    max_db: float = 35.0,
) -> float:
    """Segmental SNR in dB of ``estimate`` against ``clean`` (equal-length 1-D arrays).

    Defaults: 30 ms Hann frames, 75 % overlap, per-frame clamp to [-10, 35] dB
    (Loizou's ``comp_snr.m``; Quackenbush et al. 1988; Hu & Loizou 2008).
    """
    frames = segmental_snr_frames(
        clean,
        estimate,
        sample_rate=sample_rate,
        frame_len=frame_len,
        hop=hop,
        window=window,
        min_db=min_db,
        max_db=max_db,
    )
    return float(np.mean(frames))


def snr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Global SNR in dB: ``10 log10(sum clean^2 / sum (clean - estimate)^2)``.

    ``inf`` when the estimate is exact; raises ``ValueError`` for a silent ``clean``.
    """
    c, e = _pair(clean, estimate)
    signal = float(np.sum(c**2))
    if signal == 0.0:
        raise ValueError("clean signal is silent; its SNR is undefined")
    noise = float(np.sum((c - e) ** 2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise)


@dataclass(frozen=True)
class SNRImprovement:
    """SNR and segmental SNR (dB) of the noisy input and the enhanced output."""

    segsnr_noisy: float
    segsnr_enhanced: float
    segsnr_gain: float
    snr_noisy: float
    snr_enhanced: float

    @property
    def snr_gain(self) -> float:
        """``snr_enhanced - snr_noisy`` in dB."""
        return self.snr_enhanced - self.snr_noisy


def snr_improvement(
    clean: np.ndarray,
    noisy: np.ndarray,
    enhanced: np.ndarray,
    *,
    sample_rate: int = 16000,
    frame_len: int | None = None,
    hop: int | None = None,
    window: str = "hann",
) -> SNRImprovement:
    """How much ``enhanced`` improves on ``noisy`` with respect to ``clean``."""
    kw = dict(sample_rate=sample_rate, frame_len=frame_len, hop=hop, window=window)
    seg_noisy = segmental_snr(clean, noisy, **kw)
    seg_enh = segmental_snr(clean, enhanced, **kw)
    return SNRImprovement(
        segsnr_noisy=seg_noisy,
        segsnr_enhanced=seg_enh,
        segsnr_gain=seg_enh - seg_noisy,
        snr_noisy=snr(clean, noisy),
        snr_enhanced=snr(clean, enhanced),
    )


def evaluate_segan(
    gan: SEGAN, corpus: SpeechCorpus | Data, *, max_utterances: int | None = None, seed: int = 0
) -> SNRImprovement:
    """Mean segmental SNR / SNR (dB) of noisy vs enhanced speech over held-out utterances."""
    if isinstance(corpus, Data):
        if "corpus" not in corpus.extra:
            raise UserError(f"evaluate_segan needs the speech data source, got {corpus.name}")
        corpus = corpus.extra["corpus"]
    pairs = list(zip(corpus.test_clean, corpus.test_noisy))[:max_utterances]
    if not pairs:
        raise UserError("the speech corpus has no held-out utterances to evaluate on")
    results = [
        snr_improvement(c, n, enhance(gan, n, seed=seed + i), sample_rate=corpus.sample_rate)
        for i, (c, n) in enumerate(pairs)
    ]
    mean = lambda name: float(np.mean([getattr(r, name) for r in results]))  # noqa: E731
    return SNRImprovement(
        segsnr_noisy=mean("segsnr_noisy"),
        segsnr_enhanced=mean("segsnr_enhanced"),
        segsnr_gain=mean("segsnr_gain"),
        snr_noisy=mean("snr_noisy"),
        snr_enhanced=mean("snr_enhanced"),
    )
