"""``segan`` — the speech-enhancement GAN (Pascual, Bonafonte & Serra 2017, "SEGAN: Speech
Enhancement Generative Adversarial Network", arXiv:1703.09452), trained with the seed notes'
suggested conditional Wasserstein objective (WGAN-GP critic on pairs, Gulrajani et al. 2017).

Also registers the ``speech`` data source (espeak-ng speech + white/babble noise, built and
cached by :mod:`gans.data.speech_corpus`): x = clean window ``(B, 1, T)`` in the waveform's own scale
(peak ≤ 0.5), y = the noisy window ``(B, 1, T)`` it was mixed into — the condition.

What follows SEGAN:

* **Generator** — a 1-D convolutional encoder–decoder: the encoder is ``len(enc_channels)``
  strided ``Conv1d(kernel 31, stride 2)`` + PReLU layers (SEGAN: 11 layers, 16-32-32-64-64-128-128-
  256-256-512-1024 channels on 16,384 samples → 1024 × 8); the latent code ``z ~ N(0, 1)`` of
  ``z_channels`` × (T / 2^L) is concatenated to the bottleneck; the decoder mirrors the encoder with
  ``ConvTranspose1d(kernel 31, stride 2)`` + PReLU, each layer's output concatenated with the
  matching encoder activation (skip connections), and a final Tanh to one channel (added to the
  noisy input by default: see "Residual output" below).
* **Discriminator** — sees a pair ``(enhanced or clean, noisy)`` stacked as two channels, then the
  same strided ``Conv1d(31, 2)`` stack with LeakyReLU(0.3), a 1×1 conv to one channel and a linear
  layer to one score. SEGAN uses virtual batch norm here; a WGAN-GP critic must not normalise
  across the batch (the penalty is per sample, Gulrajani et al. §4), so there is no normalisation.
* **Pre-emphasis 0.95** on clean and noisy input (SEGAN); :meth:`SEGAN.to_data` de-emphasises.
  Model space is pre-emphasised audio; data space is the waveform.
* **Windows** — SEGAN cuts 16,384-sample windows with 50 % overlap for training and enhances
  held-out utterances window by window without overlap, concatenating the outputs; the same here
  (:func:`enhance`, which pre-emphasises the whole utterance before cutting it and de-emphasises
  the concatenated output, as SEGAN's ``clean()``, so an identity G returns the noisy input).

What differs, and why:

* **Objective** — the seed's conditional Wasserstein loss instead of SEGAN's LSGAN: critic loss
  ``E[D(G(z, ñ), ñ)] − E[D(x, ñ)] + λ_gp · E[(‖∇D(x̂, ñ)‖ − 1)²]`` with λ_gp = 10 and the
  interpolate taken over the enhanced/clean half of the pair (the condition ñ is fixed); G loss
  ``−E[D(G(z, ñ), ñ)] + λ_L1 · mean|G(z, ñ) − x|``. **λ_L1 = 100**, SEGAN's value, is kept for this
  reason: the gradient penalty pins ‖∇ₓD‖ near 1 per window, so the adversarial term's gradient on
  one window has norm ≈ 1 (per batch element), while the L1 term (a mean over T samples) has a
  gradient norm of λ_L1 / √T per window — 100 / √T = 1.6 at T = 4096 and 0.8 at T = 16,384. So
  λ_L1 = 100 puts the two terms on the same scale over the window sizes used here, which is the
  balance SEGAN's 100 strikes against its bounded LSGAN term. (The L1 term is what moves G most in
  a short CPU run; the critic shapes the residual.)
* **Schedule** — ``n_critic = 1`` by default (SEGAN alternates one D and one G step; WGAN-GP's 5
  would make G five times slower to train for the same compute, and the L1 term already anchors
  G). ``--set n_critic=5`` gives WGAN-GP's ratio. As for ``wgan``, the G phase is
  ``Phase(..., every=n_critic)``.
* **Optimiser** — Adam lr 2e-4 (SEGAN's RMSprop learning rate) with WGAN-GP's betas (0.5, 0.9)
  (its toy setting; β₁ = 0 is slower to converge for the L1 term), batch 16 instead of SEGAN's 400.
* **Sizes** — full SEGAN (22 layers, 16,384 samples, ~100 M multiply-adds per sample) does not
  train on a 2-core CPU in minutes. Defaults: ``window=4096``, ``enc_channels=(16, 32, 32, 64, 64,
  128)`` (6 encoder + 6 decoder layers, bottleneck 128 × 64), ``z_channels=128``, kernel 31.
  SEGAN's full sizes: ``--set window=16384 --set
  "enc_channels=(16,32,32,64,64,128,128,256,256,512,1024)" --set z_channels=1024`` (or
  ``SEGANConfig.full()``).
* **Residual output** (``residual=True``, the default; ``--set residual=false`` gives SEGAN's
  plain ``tanh`` output) — G returns ``ñ + tanh(h)``: the pre-emphasised noisy input plus a
  correction, with the last decoder layer zero-initialised so that a fresh G is exactly the
  identity (its enhanced speech has the noisy input's segSNR). Why: SEGAN trains for 86 epochs on
  a GPU; a short CPU run from a random G spends its first hundreds of steps learning to copy
  speech through the skips and ends *below* the noisy input (measured, small config, batch 8,
  200 steps: held-out segSNR −3.6 dB enhanced vs +0.1 dB noisy). Starting at the identity, the
  L1 term only has to learn the denoising (same run: +0.6 dB enhanced, +0.46 dB gain, SNR
  5.0 → 5.7 dB).
* **Adversarial warm-up** (``adv_warmup``, default 0 = none, as SEGAN) — G's adversarial term
  ``−E[D(G(z, ñ), ñ)]`` can be ramped linearly from 0 to 1 over the first ``adv_warmup`` steps so
  that the L1 term shapes G before the critic's signal reaches full weight.
* **No condition** — on the ``fake`` data source (``--dry-run``, timing) there is no noisy
  signal; the phases and :meth:`SEGAN.generate` then use white noise (std 0.1, the level of the
  noisy speech) as the condition, so the same code runs.

Evaluation: :func:`diagnostics.speech.evaluate_segan` enhances held-out utterances with
:func:`enhance` and reports segmental SNR and SNR of the noisy input and the enhanced output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import UserError
from ..data.speech_corpus import PREEMPHASIS, SpeechDataError, deemphasis, preemphasis
from .core import GAN, Phase, StepContext, adam
from .wgan import wasserstein_phases

__all__ = [
    "SEGANConfig",
    "SEGANGenerator",
    "SEGANDiscriminator",
    "SEGAN",
    "preemphasis_t",
    "enhance",
]

_FULL_CHANNELS = (16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 1024)


@dataclass
class SEGANConfig:
    window: int = 4096  # samples per window (SEGAN: 16384 ≈ 1 s at 16 kHz)
    enc_channels: tuple = (
        16,
        32,
        32,
        64,
        64,
        128,
    )  # encoder widths, one stride-2 layer each (SEGAN: 11 layers to 1024)
    z_channels: int = 128  # channels of the latent code at the bottleneck (SEGAN: 1024)
    kernel: int = 31  # conv kernel size (SEGAN: 31)
    l1_weight: float = 100.0  # λ_L1 on mean|G − x| (SEGAN: 100; see the module docstring)
    gp_lambda: float = 10.0  # gradient-penalty weight (WGAN-GP: 10)
    n_critic: int = 1  # critic steps per G step (SEGAN: 1; WGAN-GP: 5)
    lr: float = 2e-4  # Adam learning rate of both nets (SEGAN: 2e-4 with RMSprop)
    beta1: float = 0.5  # Adam betas (WGAN-GP toy code: (0.5, 0.9))
    beta2: float = 0.9
    preemph: float = PREEMPHASIS  # pre-emphasis coefficient (SEGAN: 0.95)
    adv_warmup: int = 0  # steps over which G's adversarial weight ramps linearly from 0 to 1 (0 = none; SEGAN: none)
    residual: bool = (
        True  # G outputs noisy + tanh(correction), last layer zero-initialised (SEGAN: False; see the docstring)
    )

    @classmethod
    def full(cls) -> "SEGANConfig":
        """SEGAN's published sizes: 16,384-sample windows, 11 encoder layers to 1024 channels."""
        return cls(window=16384, enc_channels=_FULL_CHANNELS, z_channels=1024)


def preemphasis_t(x: torch.Tensor, coef: float = PREEMPHASIS) -> torch.Tensor:
    """``y[n] = x[n] − coef·x[n−1]`` along the last axis (torch; same as gans.data.speech_corpus.preemphasis)."""
    return torch.cat([x[..., :1], x[..., 1:] - coef * x[..., :-1]], dim=-1)


def _deemphasis_t(y: torch.Tensor, coef: float) -> torch.Tensor:
    out = deemphasis(y.detach().float().cpu().numpy(), coef)
    return torch.from_numpy(np.ascontiguousarray(out)).to(y.device, torch.float32)


class SEGANGenerator(nn.Module):
    """SEGAN's encoder–decoder; with ``residual`` it returns ``noisy + tanh(h)`` and starts at the identity."""

    def __init__(self, channels: Sequence[int], z_channels: int, kernel: int, residual: bool = False):
        super().__init__()
        pad = kernel // 2
        chans = [1, *channels]
        self.enc = nn.ModuleList(nn.Conv1d(chans[i], chans[i + 1], kernel, 2, pad) for i in range(len(channels)))
        self.enc_act = nn.ModuleList(nn.PReLU(c) for c in channels)
        self.dec = nn.ModuleList()
        self.dec_act = nn.ModuleList()
        inp = channels[-1] + z_channels
        # decoder layer j maps to the width of encoder layer L-2-j, then concatenates its output
        for j in range(len(channels)):
            out = chans[len(channels) - 1 - j] if j < len(channels) - 1 else 1
            self.dec.append(
                nn.ConvTranspose1d(inp, out if j < len(channels) - 1 else 1, kernel, 2, pad, output_padding=1)
            )
            if j < len(channels) - 1:
                self.dec_act.append(nn.PReLU(out))
                inp = out * 2  # skip connection doubles the channels
        self.z_channels = z_channels
        self.residual = residual
        if residual:  # the correction starts at exactly 0, so G starts as the identity on the noisy input
            nn.init.zeros_(self.dec[-1].weight)
            nn.init.zeros_(self.dec[-1].bias)

    def forward(self, z: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:  # (B,zc,T/2^L), (B,1,T) -> (B,1,T)
        h = noisy
        skips = []
        for conv, act in zip(self.enc, self.enc_act):
            h = act(conv(h))
            skips.append(h)
        h = torch.cat([h, z.to(h.dtype)], 1)
        skips.pop()  # the bottleneck itself is not a skip
        for j, deconv in enumerate(self.dec):
            h = deconv(h)
            if j < len(self.dec) - 1:
                h = torch.cat([self.dec_act[j](h), skips.pop()], 1)
        if self.residual:
            return noisy + torch.tanh(h)
        return torch.tanh(h)


class SEGANDiscriminator(nn.Module):
    def __init__(self, channels: Sequence[int], kernel: int, window: int):
        super().__init__()
        pad = kernel // 2
        chans = [2, *channels]
        layers: list[nn.Module] = []
        for i in range(len(channels)):
            layers += [nn.Conv1d(chans[i], chans[i + 1], kernel, 2, pad), nn.LeakyReLU(0.3)]
        self.convs = nn.Sequential(*layers)
        self.squeeze = nn.Conv1d(channels[-1], 1, 1)
        self.fc = nn.Linear(window >> len(channels), 1)

    def forward(self, x: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:  # (B,1,T) pairs -> (B,)
        h = self.squeeze(self.convs(torch.cat([x, noisy.to(x.dtype)], 1)))
        return self.fc(F.leaky_relu(h.flatten(1), 0.3)).squeeze(1)


class SEGAN(GAN):
    Config = SEGANConfig
    seed_section = "SEGAN (Pascual et al. 2017) with the seed's conditional WGAN-GP loss"
    summary = "1-D conv encoder–decoder G with skips and z at the bottleneck, pair critic, WGAN-GP + 100·L1"
    gate = {"quick": {"batch_size": 2}}
    cpu_reduction = {"window": 1024, "enc_channels": (8, 16, 16, 32, 32, 64)}
    kind = "critic"
    loss_kind = "wasserstein"
    data_shape = (1, 4096)
    value_range = None
    default_dataset = "speech"
    default_batch_size = 16
    default_epochs = 5

    def __init__(self, config: SEGANConfig):
        super().__init__(config)
        chans = tuple(int(c) for c in config.enc_channels)
        L = len(chans)
        if L < 1 or any(c < 1 for c in chans):
            raise UserError(f"enc_channels must be a non-empty tuple of positive widths, got {config.enc_channels!r}")
        if config.window <= 0 or config.window % (1 << L):
            raise UserError(
                f"window {config.window} must be a positive multiple of 2^{L} = {1 << L} (one halving per "
                "encoder layer)"
            )
        if config.kernel < 3 or config.kernel % 2 == 0:
            raise UserError(f"kernel must be odd and ≥ 3, got {config.kernel}")
        self.data_shape = (1, int(config.window))  # instance value: the window is configurable
        self.bottleneck = config.window >> L
        self.G = SEGANGenerator(chans, config.z_channels, config.kernel, residual=bool(config.residual))
        self.D = SEGANDiscriminator(chans, config.kernel, config.window)

    def build_optimizers(self) -> None:
        c = self.config
        self.opt_d = adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_g = adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))

    def latent(self, n, *, device=None, generator=None):
        return torch.randn(
            (n, self.config.z_channels, self.bottleneck), device=device or self.device, generator=generator
        )

    # data space = waveform; model space = pre-emphasised waveform
    def prepare(self, x01):
        return preemphasis_t(x01.reshape(x01.shape[0], 1, -1), self.config.preemph)

    def to_data(self, x):
        return _deemphasis_t(x, self.config.preemph)

    def condition(self, noisy: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """The model-space condition: pre-emphasised noisy speech, or white noise when absent."""
        if noisy is None:
            return 0.1 * torch.randn((like.shape[0], 1, self.config.window), device=like.device)
        if noisy.dim() != 3 or noisy.shape[1:] != (1, self.config.window) or noisy.shape[0] != like.shape[0]:
            raise UserError(
                f"segan's condition must be noisy windows of shape ({like.shape[0]}, 1, "
                f"{self.config.window}), got {tuple(noisy.shape)}"
            )
        return preemphasis_t(noisy.to(like.device).float(), self.config.preemph)

    def generate(self, z, labels=None):
        return self.G(z, self.condition(labels, z))

    def d_logits(self, x, labels=None):
        return self.D(x, self.condition(labels, x))

    def phases(self) -> list[Phase]:
        c = self.config

        def cond(ctx: StepContext) -> torch.Tensor:
            if "cond" not in ctx.cache:  # once per step, shared by the critic and G phases
                y = ctx.labels
                ctx.cache["cond"] = (
                    0.1 * torch.randn_like(ctx.real) if y is None else preemphasis_t(y.float(), c.preemph)
                )
            return ctx.cache["cond"]

        def l1(ctx: StepContext, fake: torch.Tensor) -> torch.Tensor:
            loss = (fake.float() - ctx.real.float()).abs().mean()
            ctx.report("loss/l1", loss)
            return c.l1_weight * loss

        return wasserstein_phases(
            self,
            lambda x, y: self.D(x, y),
            lambda z, y: self.G(z, y),
            lambda n, dev: self.latent(n, device=dev),
            n_critic=c.n_critic,
            clip=0.0,
            gp_lambda=c.gp_lambda,
            condition=cond,
            g_extra=l1,
            adv_weight=(lambda ctx: min(1.0, (ctx.step + 1) / c.adv_warmup)) if c.adv_warmup > 0 else None,
        )


# ------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def enhance(gan: SEGAN, noisy: np.ndarray, *, seed: int = 0, batch_size: int = 16) -> np.ndarray:
    """Enhance one 1-D waveform window by window (no overlap, as SEGAN's test script).

    As in SEGAN's ``clean()``, the whole signal is pre-emphasised *before* it is cut into
    windows and the concatenated output is de-emphasised as a whole, so the filter's state runs
    across window boundaries (pre-emphasising each window on its own would restart the filter
    at every boundary and leave a decaying error after each one). The signal is zero-padded to
    a whole number of windows; the output is trimmed back. A generator that returns its
    condition therefore gives back ``noisy`` itself (up to float rounding).
    Raises :class:`SpeechDataError` for audio shorter than one window.
    """
    noisy = np.asarray(noisy, dtype=np.float32)
    T = gan.config.window
    if noisy.ndim != 1:
        raise SpeechDataError(f"enhance() expects a 1-D waveform, got shape {noisy.shape}")
    if noisy.shape[0] < T:
        raise SpeechDataError(
            f"audio of {noisy.shape[0]} samples is shorter than one window of {T} samples; use longer audio "
            "or a smaller --set window=…"
        )
    n = -(-noisy.shape[0] // T)
    padded = np.zeros(n * T, np.float32)
    padded[: noisy.shape[0]] = preemphasis(noisy, gan.config.preemph)
    windows = torch.from_numpy(padded).reshape(n, 1, T)
    g = torch.Generator().manual_seed(seed)
    was = gan.training
    gan.eval()
    try:
        out = []
        for i in range(0, n, batch_size):
            y = windows[i : i + batch_size].to(gan.device)  # already in model space
            z = gan.latent(y.shape[0], device=torch.device("cpu"), generator=g).to(gan.device)
            out.append(gan.G(z, y).float().cpu())
    finally:
        gan.train(was)
    emph = torch.cat(out).reshape(-1).numpy()
    return deemphasis(emph, gan.config.preemph)[: noisy.shape[0]].astype(np.float32)
