"""``wgan``, ``wgan_gp`` (+ ``wgan_toy``, ``wgan_gp_toy``) — Wasserstein GANs (the seed notes'
"WGAN-bp" section, i.e. WGAN with a gradient penalty, which gives no runnable code).

Papers:

* WGAN — Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN" (arXiv:1701.07875), Algorithm 1:
  a critic ``f`` without a sigmoid trained to maximise ``E[f(x)] − E[f(G(z))]``, weights clipped
  to [−c, c] after every critic step, n_critic = 5 critic steps per generator step, RMSprop with
  lr 5e-5, c = 0.01.
* WGAN-GP — Gulrajani et al. 2017, "Improved Training of Wasserstein GANs" (arXiv:1704.00028),
  Algorithm 1: no clipping; instead ``λ · E[(‖∇f(x̂)‖₂ − 1)²]`` at random interpolates
  ``x̂ = εx + (1−ε)G(z)``, ε ~ U[0, 1] per sample, λ = 10, n_critic = 5, Adam lr 1e-4,
  betas (0.0, 0.9). The paper's toy code (``gan_toy.py``) uses betas (0.5, 0.9); the toy variants
  do the same.

Choices made here, and why:

* **n_critic as loop steps** — each loop step (``train_step``) is *one critic step on a fresh real
  batch*; the generator phase has ``Phase(..., every=n_critic)`` and so runs on every
  n_critic-th step (steps n_critic−1, 2·n_critic−1, …). This keeps one real batch per step (the
  data pipeline, the timing and the resume logic stay generic) and is exactly Algorithm 1's
  "n_critic critic iterations, each on a new real minibatch, then one generator iteration".
  Consequently ``--steps`` counts critic iterations: generator iterations = steps // n_critic.
* **Clipping** — ``Phase(after=clip)`` clamps every critic parameter to [−c, c] after each critic
  optimiser step (``wgan``, ``wgan_toy``).
* **Scalars** — ``d/real`` and ``d/fake`` are the mean critic scores (not probabilities: the
  family declares ``kind = "critic"`` and ``loss_kind = "wasserstein"``, so nothing treats 0.5 as a
  target); ``critic/gap`` = E[D(x)] − E[D(G(z))], the Wasserstein estimate; ``critic/gp`` = the
  penalty term ``E[(‖∇D(x̂)‖ − 1)²]`` before the λ factor (0 for clipped critics, reported so the
  columns are the same); ``critic/grad_norm`` = mean ‖∇D(x̂)‖ at the interpolates (computed for
  both variants: with clipping it shows how far the critic is from 1-Lipschitz). ``loss/d`` is
  the critic loss ``E[D(G(z))] − E[D(x)] (+ λ·gp)``, ``loss/g`` = ``−E[D(G(z))]``.
* **Networks** — MNIST family (``wgan``, ``wgan_gp``): the WGAN paper's MLP experiments use 4-layer
  ReLU MLPs with 512 hidden units; here 3 layers of 512 (z 100 → 512 → 512 → 784, Tanh output in
  [−1, 1]; critic 784 → 512 → 512 → 1, LeakyReLU 0.2) — enough for 28×28 digits on a CPU. No
  batch norm anywhere in the critic: the gradient penalty is per sample, and Gulrajani et al.
  drop batch norm from the critic for that reason (LayerNorm is their suggested replacement; with
  MLPs this small none is needed). Toys (``wgan_toy``, ``wgan_gp_toy``): ``gan_toy.py``'s MLPs,
  3 hidden ReLU layers of 512 units, z 2-D Gaussian, G output linear (natural coordinates).
* **Batch** — 64 for the MNIST family (both papers), 256 for toys (``gan_toy.py``).
* **Penalty maths** — computed in float32 outside autocast with ``create_graph=True`` so the
  critic's optimiser step includes the penalty's gradient (double backward).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..base import UserError
from .core import GAN, Phase, StepContext, adam

__all__ = [
    "WGANConfig",
    "WGANGPConfig",
    "WGANToyConfig",
    "WGANGPToyConfig",
    "MLPCritic",
    "MLPGenerator",
    "WassersteinGAN",
    "gradient_penalty",
    "critic_grad_norms",
    "wasserstein_phases",
]


# ---------------------------------------------------------------------------------- configs


@dataclass
class WGANConfig:
    z_dim: int = 100  # latent size
    hidden: int = 512  # hidden width of G and the critic (the WGAN paper's MLPs: 512)
    layers: int = 2  # hidden layers in G and in the critic
    optimizer: str = "rmsprop"  # rmsprop (WGAN) | adam (WGAN-GP)
    lr: float = 5e-5  # learning rate of both nets (WGAN: 5e-5)
    beta1: float = 0.0  # Adam betas (only with optimizer=adam)
    beta2: float = 0.9
    n_critic: int = 5  # critic steps per generator step (both papers: 5)
    clip: float = 0.01  # weight clipping bound c (0 = no clipping); WGAN: 0.01
    gp_lambda: float = 0.0  # gradient-penalty weight λ (0 = none); WGAN-GP: 10
    lr_decay_steps: int = (
        0  # linear lr decay to 0 over this many critic steps (0 = constant; WGAN-GP's CIFAR code decays)
    )


@dataclass
class WGANGPConfig(WGANConfig):
    optimizer: str = "adam"  # WGAN-GP: Adam
    lr: float = 1e-4  # WGAN-GP: 1e-4
    beta1: float = 0.0  # WGAN-GP: betas (0.0, 0.9)
    beta2: float = 0.9
    clip: float = 0.0  # no clipping: the penalty enforces the Lipschitz constraint
    gp_lambda: float = 10.0  # WGAN-GP: λ = 10


@dataclass
class WGANToyConfig(WGANConfig):
    z_dim: int = 2  # gan_toy.py: 2-D Gaussian noise
    layers: int = 3  # gan_toy.py: 3 hidden ReLU layers of 512 units
    # optimiser, lr, n_critic and clip as WGAN: RMSprop 5e-5, n_critic 5, c 0.01


@dataclass
class WGANGPToyConfig(WGANGPConfig):
    z_dim: int = 2  # gan_toy.py: 2-D Gaussian noise
    layers: int = 3  # gan_toy.py: 3 hidden ReLU layers of 512 units
    beta1: float = 0.5  # gan_toy.py: Adam betas (0.5, 0.9)
    beta2: float = 0.9
    # λ stays the paper's 10 (gan_toy.py itself uses 0.1; see the docstring of this module)


# ---------------------------------------------------------------------------------- networks


def _mlp(inp: int, hidden: int, layers: int, out: int, act: type[nn.Module], **act_kw) -> list[nn.Module]:
    mods: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), act(**act_kw)]
        width = hidden
    mods.append(nn.Linear(width, out))
    return mods


class MLPGenerator(nn.Module):
    """z → ``layers`` × (Linear, ReLU) → Linear (→ Tanh for images)."""

    def __init__(self, z_dim: int, hidden: int, layers: int, out: int, tanh: bool):
        super().__init__()
        mods = _mlp(z_dim, hidden, layers, out, nn.ReLU)
        if tanh:
            mods.append(nn.Tanh())
        self.net = nn.Sequential(*mods)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, z) -> (B, out)
        return self.net(z)


class MLPCritic(nn.Module):
    """x → ``layers`` × (Linear, LeakyReLU/ReLU) → Linear: an unbounded score (no sigmoid)."""

    def __init__(self, inp: int, hidden: int, layers: int, leaky: bool):
        super().__init__()
        if leaky:
            self.net = nn.Sequential(*_mlp(inp, hidden, layers, 1, nn.LeakyReLU, negative_slope=0.2))
        else:
            self.net = nn.Sequential(*_mlp(inp, hidden, layers, 1, nn.ReLU))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, inp) -> (B,)
        return self.net(x).squeeze(1)


# ---------------------------------------------------------------------------------- losses


def _interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=torch.float32)
    return (eps * real.float() + (1 - eps) * fake.float()).requires_grad_(True)


def _grad_norms(critic, x_hat: torch.Tensor, create_graph: bool) -> torch.Tensor:
    score = critic(x_hat).float()
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=create_graph)
    return grad.reshape(grad.shape[0], -1).norm(2, dim=1)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E[(‖∇critic(x̂)‖ − 1)²], ‖∇critic(x̂)‖ per sample)`` at random interpolates (Gulrajani et al.).

    ``critic`` maps a batch to scores (B,); ``real`` and ``fake`` have the same shape; the
    penalty keeps its graph (``create_graph=True``) so it can be minimised.
    """
    with torch.autocast(device_type=real.device.type, enabled=False):
        norms = _grad_norms(critic, _interpolates(real, fake.detach()), create_graph=True)
        return ((norms - 1.0) ** 2).mean(), norms


def critic_grad_norms(
    critic, real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """‖∇critic(x̂)‖ at random interpolates of ``real`` and ``fake`` (a diagnostic; no graph kept)."""
    eps = torch.rand(
        (real.shape[0],) + (1,) * (real.dim() - 1),
        generator=generator,
        device=real.device if generator is None else generator.device,
    )
    x_hat = (
        (eps.to(real.device) * real.float() + (1 - eps.to(real.device)) * fake.float()).detach().requires_grad_(True)
    )
    with torch.enable_grad():
        return _grad_norms(critic, x_hat, create_graph=False).detach()


def wasserstein_phases(
    gan: GAN,
    critic,
    generate,
    latent,
    *,
    n_critic: int,
    clip: float,
    gp_lambda: float,
    condition=None,
    g_extra=None,
    adv_weight=None,
) -> list[Phase]:
    """The WGAN / WGAN-GP schedule: a critic step every loop step, a G step every ``n_critic``-th.

    ``critic(x, cond)`` and ``generate(z, cond)`` take the condition returned by
    ``condition(ctx)`` (None for unconditional families; SEGAN passes the noisy speech).
    ``g_extra(ctx, fake)``, when given, is added to the generator loss (SEGAN's L1 term).
    ``adv_weight(ctx)``, when given, scales the generator's adversarial term ``−E[D(G(z))]``
    (a Python float from the step index; SEGAN's warm-up).
    """
    if n_critic < 1:
        raise UserError(f"n_critic must be ≥ 1, got {n_critic}")
    if clip < 0 or gp_lambda < 0:
        raise UserError(f"clip and gp_lambda must be ≥ 0, got clip={clip}, gp_lambda={gp_lambda}")
    cond_of = condition or (lambda ctx: None)

    def d(ctx: StepContext) -> torch.Tensor:
        c = cond_of(ctx)
        f = lambda x: critic(x, c)  # noqa: E731
        fake = generate(latent(ctx.batch_size, ctx.real.device), c).detach()
        real_score = f(ctx.real).float().mean()
        fake_score = f(fake).float().mean()
        loss = fake_score - real_score
        if gp_lambda > 0:
            gp, norms = gradient_penalty(f, ctx.real, fake)
            loss = loss + gp_lambda * gp
        else:  # clipped critic: measure the interpolate gradient norm, no penalty (no double backward)
            with torch.autocast(device_type=ctx.real.device.type, enabled=False):
                norms = _grad_norms(f, _interpolates(ctx.real, fake), create_graph=False).detach()
            gp = torch.zeros((), device=ctx.real.device)
        ctx.report("d/real", real_score)
        ctx.report("d/fake", fake_score)
        ctx.report("critic/gap", real_score - fake_score)
        ctx.report("critic/gp", gp)
        ctx.report("critic/grad_norm", norms.mean())
        ctx.report("loss/d", loss)
        return loss

    def g(ctx: StepContext) -> torch.Tensor:
        c = cond_of(ctx)
        fake = generate(latent(ctx.batch_size, ctx.real.device), c)
        score = critic(fake, c).float().mean()
        loss = -score
        ctx.report("d/fake_g", score)
        if adv_weight is not None:
            loss = adv_weight(ctx) * loss
        if g_extra is not None:
            ctx.report("loss/g_adv", loss)
            loss = loss + g_extra(ctx, fake)
        ctx.report("loss/g", loss)
        return loss

    params = [p for p in gan.D.parameters()]

    @torch.no_grad()
    def after() -> None:
        if clip > 0:  # WGAN: clamp every critic weight to [-c, c] after its step
            torch._foreach_clamp_min_(params, -clip)
            torch._foreach_clamp_max_(params, clip)
        decay = getattr(gan, "decay_lr", None)  # optional linear lr decay, per critic step
        if decay is not None:
            decay()

    return [Phase("critic", "D", d, after=after), Phase("g", "G", g, every=n_critic)]


# ---------------------------------------------------------------------------------- the GAN


class WassersteinGAN(GAN):
    """An MLP WGAN (clipping and/or gradient penalty); subclasses fix data shape and defaults."""

    kind = "critic"
    loss_kind = "wasserstein"
    toy = False

    def __init__(self, config: WGANConfig):
        super().__init__(config)
        if config.optimizer not in ("rmsprop", "adam"):
            raise UserError(f"optimizer must be rmsprop or adam, got {config.optimizer!r}")
        if config.layers < 1 or config.hidden < 1:
            raise UserError("layers and hidden must be ≥ 1")
        dim = 1
        for s in self.data_shape:
            dim *= s
        self.flat_dim = dim
        self.G = MLPGenerator(config.z_dim, config.hidden, config.layers, dim, tanh=not self.toy)
        self.D = MLPCritic(dim, config.hidden, config.layers, leaky=not self.toy)

    def build_optimizers(self) -> None:
        c = self.config
        if c.optimizer == "rmsprop":
            self.opt_d = torch.optim.RMSprop(self.D.parameters(), lr=c.lr)
            self.opt_g = torch.optim.RMSprop(self.G.parameters(), lr=c.lr)
        else:
            self.opt_d = adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
            self.opt_g = adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.decay_step = 0  # critic steps taken under the optional linear lr decay

    def decay_lr(self) -> None:
        """Linear lr decay to 0 over ``lr_decay_steps`` critic steps (no-op when 0)."""
        c = self.config
        if c.lr_decay_steps <= 0:
            return
        self.decay_step += 1
        lr = c.lr * max(0.0, 1.0 - self.decay_step / c.lr_decay_steps)
        for opt in (self.opt_d, self.opt_g):
            for group in opt.param_groups:
                group["lr"] = lr

    def optimizer_state(self):
        return {**super().optimizer_state(), "decay_step": self.decay_step}

    def load_optimizer_state(self, state):
        super().load_optimizer_state(state)
        self.decay_step = int(state.get("decay_step", 0))

    def latent(self, n, *, device=None, generator=None):
        return torch.randn((n, self.config.z_dim), device=device or self.device, generator=generator)

    def prepare(self, x01):
        if self.toy:
            return x01
        return (x01 * 2.0 - 1.0).reshape(x01.shape[0], -1)  # [0, 1] images -> (B, 784) in [-1, 1]

    def to_data(self, x):
        if self.toy:
            return x
        return ((x + 1.0) / 2.0).reshape(x.shape[0], *self.data_shape)

    def generate(self, z, labels=None):
        return self.G(z)

    def d_logits(self, x, labels=None):
        return self.D(x.reshape(x.shape[0], -1))

    def phases(self) -> list[Phase]:
        c = self.config
        return wasserstein_phases(
            self,
            lambda x, cond: self.D(x),
            lambda z, cond: self.G(z),
            lambda n, dev: self.latent(n, device=dev),
            n_critic=c.n_critic,
            clip=c.clip,
            gp_lambda=c.gp_lambda,
        )


class WGAN(WassersteinGAN):
    Config = WGANConfig
    seed_section = "WGAN-bp (Arjovsky et al. 2017, weight clipping)"
    summary = "MLP WGAN, critic clipped to ±0.01, RMSprop 5e-5, n_critic 5, 28×28"
    data_shape = (1, 28, 28)
    value_range = (-1.0, 1.0)
    default_dataset = "digits"
    default_batch_size = 64
    default_epochs = 100


class WGANGP(WassersteinGAN):
    Config = WGANGPConfig
    seed_section = "WGAN-bp (Gulrajani et al. 2017, gradient penalty λ=10)"
    summary = "MLP WGAN-GP, λ=10, Adam 1e-4 β=(0.0, 0.9), n_critic 5, 28×28"
    references = {"minimal": "bench.references.wgan_gp_minimal"}
    data_shape = (1, 28, 28)
    value_range = (-1.0, 1.0)
    default_dataset = "digits"
    default_batch_size = 64
    default_epochs = 100


class WGANToy(WassersteinGAN):
    Config = WGANToyConfig
    seed_section = "WGAN-bp (Arjovsky et al. 2017) on 2-D mixtures"
    summary = "2-D WGAN, 3×512 ReLU MLPs, clip ±0.01, RMSprop 5e-5, n_critic 5, batch 256"
    gate = {"quick": {"batch_size": 256}}
    toy = True
    data_shape = (2,)
    value_range = None
    default_dataset = "ring8"
    default_batch_size = 256
    default_epochs = 200


class WGANGPToy(WassersteinGAN):
    Config = WGANGPToyConfig
    seed_section = "WGAN-bp (Gulrajani et al. 2017, gan_toy.py) on 2-D mixtures"
    summary = "2-D WGAN-GP, 3×512 ReLU MLPs, λ=10, Adam 1e-4 β=(0.5, 0.9), n_critic 5, batch 256"
    gate = {"quick": {"batch_size": 256}}
    toy = True
    data_shape = (2,)
    value_range = None
    default_dataset = "ring8"
    default_batch_size = 256
    default_epochs = 200
