"""The pieces every GAN family shares: the ``GAN`` base class, update phases, the one
``train_step`` used by both training and benchmarks, and the GAN registry.

A family file (``gans/models/mnist_mlp.py`` and friends) defines a config dataclass, ``Generator``,
``Discriminator`` and a ``GAN`` subclass whose :meth:`GAN.phases` lists its updates as data:
which network each phase optimises, its loss, how often it runs. :func:`train_step` runs the
phases; it never synchronises the GPU — every scalar it returns is a detached device tensor,
summed by :class:`gans.training.stream.ScalarStream` and read once per log interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "GAN",
    "Phase",
    "StepContext",
    "train_step",
    "load_family",
    "list_gans",
    "get_gan_entry",
    "build_gan",
    "GANEntry",
    "apply_overrides",
    "bce_logits",
    "grad_norm",
    "adam",
    "FusedAdam",
    "sgd",
    "seed_bce_phases",
    "standard_bce_phases",
    "iter_entries",
]


# --------------------------------------------------------------------------------------------
# Phases


@dataclass
class StepContext:
    """What one training step's phases share."""

    real: torch.Tensor  # the real batch, already in the model's layout and value range
    labels: torch.Tensor | None  # class labels for conditional families, else None
    step: int  # global step index (0-based), for phases that run every k steps
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)  # detached, on device
    cache: dict[str, Any] = field(default_factory=dict)  # tensors shared between phases

    @property
    def batch_size(self) -> int:
        return self.real.shape[0]

    def report(self, name: str, value: torch.Tensor) -> None:
        """Record a scalar for the stream (detached; never ``.item()``).

        Float32 scalars are stored as they are; other tensors are cast to float32 and averaged
        (casts and means are only paid where they change something).
        """
        value = value.detach()
        if value.dtype != torch.float32:
            value = value.float()
        self.scalars[name] = value.mean() if value.dim() else value


@dataclass(frozen=True)
class Phase:
    """One optimiser update inside a training step.

    ``net`` names whose optimiser steps ("D" or "G"). ``loss(ctx)`` returns the loss to
    minimise and reports its scalars. ``every`` > 1 runs the phase only on steps where
    ``step % every == every - 1`` (WGAN's n_critic). ``after`` runs after the optimiser step
    (weight clipping).
    """

    name: str
    net: Literal["D", "G"]
    loss: Callable[[StepContext], torch.Tensor]
    every: int = 1
    after: Callable[[], None] | None = None


def grad_norm(module: nn.Module) -> torch.Tensor:
    """Total L2 norm of a module's gradients, as a device tensor (no sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())


class FusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` whose ``step`` calls the fused kernel directly in the usual case.

    ``Adam.step`` spends more time in Python than in its kernel on a small network (on a 2-core
    CPU, about 250 µs per call against 100 µs for the kernel, for mnist_mlp's D): it rebuilds the
    per-parameter lists and regroups them by device on every call. When one parameter group
    holds parameters of one device and dtype that all have a gradient and an initialised state,
    and no closure, AMP grad scaler, amsgrad, maximize, capturable, differentiable or tensor lr is
    in play, this ``step`` makes the same two calls ``Adam.step`` ends in (``_foreach_add_`` on the
    step counts, then ``_fused_adam_``) with the same arguments, so every update is bit for bit
    that of ``Adam(fused=True)``; any other case goes through ``Adam.step`` itself. State dicts,
    hooks and the profiler label are Adam's own.
    """

    def __init__(self, params: Any, *, lr: float, betas: tuple[float, float]) -> None:
        super().__init__(params, lr=lr, betas=betas, fused=True)

    def _direct_args(self) -> tuple[dict[str, Any], list[list[torch.Tensor]]] | None:
        """The group and the kernel's tensor lists when the direct call applies, else None."""
        scaler = getattr(self, "grad_scale", None), getattr(self, "found_inf", None)  # set by an AMP GradScaler
        if len(self.param_groups) != 1 or any(x is not None for x in scaler):
            return None
        group = self.param_groups[0]
        params: list[torch.Tensor] = group["params"]
        flags = ("amsgrad", "maximize", "capturable", "differentiable", "decoupled_weight_decay")
        if not params or not group["fused"] or any(group[f] for f in flags) or isinstance(group["lr"], torch.Tensor):
            return None
        device, dtype = params[0].device, params[0].dtype
        grads, avgs, sqs, steps = [], [], [], []
        for p in params:
            state = self.state.get(p)
            if p.grad is None or not state or p.grad.is_sparse or p.device != device or p.dtype != dtype:
                return None
            grads.append(p.grad)
            avgs.append(state["exp_avg"])
            sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return group, [params, grads, avgs, sqs, steps]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        direct = None if closure is not None else self._direct_args()
        if direct is None:
            return super().step(closure)
        group, (params, grads, avgs, sqs, steps) = direct
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                grads,
                avgs,
                sqs,
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
        return None


def adam(params: Any, *, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam with its fused kernel (:class:`FusedAdam`): the same update rule as the default
    for-loop Adam in one kernel per parameter group (equal up to float rounding order; about half
    the optimiser time of an MLP GAN step on a CPU)."""
    return FusedAdam(params, lr=lr, betas=betas)


def sgd(params: Any, *, lr: float) -> torch.optim.SGD:
    """Plain SGD with its multi-tensor (``foreach``) update: bit-identical to the for-loop form."""
    return torch.optim.SGD(params, lr=lr, foreach=True)


def bce_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    """BCE against a constant target, from logits (the seed's Sigmoid + BCELoss, stabler)."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


def seed_bce_phases(
    d_logits: Callable[[torch.Tensor], torch.Tensor],
    generate: Callable[[torch.Tensor], torch.Tensor],
    latent: Callable[[int, torch.device], torch.Tensor],
) -> list[Phase]:
    """The course notes' BCE schedule shared by the MLP and CelebA GANs.

    Two separate D optimiser steps — real with target 1, then ``G(z1).detach()`` with target 0
    — then one G step through D on a *fresh* ``z2`` with target 1 (non-saturating loss).
    ``loss/d`` is the mean of the two D terms, so its equilibrium is ln 2 like each term.
    """

    def d_real(ctx: StepContext) -> torch.Tensor:
        # (1) D step on real data, target 1
        logits = d_logits(ctx.real)
        ctx.report("d/real", torch.sigmoid(logits))
        loss = bce_logits(logits, 1.0)
        ctx.report("loss/d_real", loss)
        return loss

    def d_fake(ctx: StepContext) -> torch.Tensor:
        # (2) D step on G(z1).detach(), target 0 — G gets no gradient
        with torch.no_grad():  # the same G(z1).detach(), without recording G's graph
            fake = generate(latent(ctx.batch_size, ctx.real.device))
        logits = d_logits(fake)
        ctx.report("d/fake", torch.sigmoid(logits))
        loss = bce_logits(logits, 0.0)
        ctx.report("loss/d_fake", loss)
        ctx.report("loss/d", (ctx.scalars["loss/d_real"] + loss.detach()) / 2)
        return loss

    def g(ctx: StepContext) -> torch.Tensor:
        # (3) G step through D on a fresh z2, target 1
        logits = d_logits(generate(latent(ctx.batch_size, ctx.real.device)))
        ctx.report("d/fake_g", torch.sigmoid(logits))
        loss = bce_logits(logits, 1.0)
        ctx.report("loss/g", loss)
        return loss

    return [Phase("d_real", "D", d_real), Phase("d_fake", "D", d_fake), Phase("g", "G", g)]


def standard_bce_phases(gan: "GAN") -> list[Phase]:
    """One D step on real (target 1) and ``G(z).detach()`` (target 0) together, then one G step through D on
    a fresh z (target 1, the non-saturating loss): the default :meth:`GAN.phases`. Reports ``d/real``,
    ``d/fake`` (D's mean probabilities), ``loss/d`` (the mean of the two terms, ln 2 at equilibrium) and
    ``loss/g``, the scalars the equilibrium diagnostics read."""

    def d_step(ctx: StepContext) -> torch.Tensor:
        labels = ctx.labels if gan.conditional else None  # labelled data feeds an unconditional family too
        with torch.no_grad():
            fake = gan.generate(gan.latent(ctx.batch_size, device=ctx.real.device), labels)
        real_logits = gan.d_logits(ctx.real, labels)
        fake_logits = gan.d_logits(fake, labels)
        ctx.report("d/real", torch.sigmoid(real_logits.float()))
        ctx.report("d/fake", torch.sigmoid(fake_logits.float()))
        loss_real, loss_fake = bce_logits(real_logits, 1.0), bce_logits(fake_logits, 0.0)
        ctx.report("loss/d_real", loss_real)
        ctx.report("loss/d_fake", loss_fake)
        loss = (loss_real + loss_fake) / 2
        ctx.report("loss/d", loss)
        return loss

    def g_step(ctx: StepContext) -> torch.Tensor:
        labels = ctx.labels if gan.conditional else None
        logits = gan.d_logits(gan.generate(gan.latent(ctx.batch_size, device=ctx.real.device), labels), labels)
        ctx.report("d/fake_g", torch.sigmoid(logits.float()))
        loss = bce_logits(logits, 1.0)
        ctx.report("loss/g", loss)
        return loss

    return [Phase("d", "D", d_step), Phase("g", "G", g_step)]


# --------------------------------------------------------------------------------------------
# The GAN base class


class GAN(nn.Module):
    """A generator, a discriminator (or critic), their optimisers and update phases.

    Subclasses set the class attributes and implement :meth:`phases`, :meth:`latent`,
    :meth:`generate` and :meth:`d_logits`. Data arrives from a data source in [0, 1] (images,
    ``(B, C, H, W)``) or natural coordinates (toy vectors); :meth:`prepare` maps it to the
    model's layout and range, :meth:`to_data` maps generator output back.
    """

    name: ClassVar[str] = ""
    #: "probability": D ends in a sigmoid, equilibrium at 0.5. "critic": unbounded (WGAN).
    kind: ClassVar[Literal["probability", "critic"]] = "probability"
    #: shape of one sample as the data source must deliver it: (C, H, W) or (D,)
    data_shape: ClassVar[tuple[int, ...]] = ()
    #: the generator's output range; image data in [0, 1] is mapped to it. None: identity
    #: (toy vectors in natural coordinates)
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)
    #: the loss whose equilibrium value the diagnostics compare against ("bce", "mse", "wasserstein")
    loss_kind: ClassVar[str] = "bce"
    #: data sources this family runs on by default / accepts ("image" = any image source)
    default_dataset: ClassVar[str] = "fake"
    #: the seed's training defaults (the CLI uses them when --batch-size/--epochs are not given)
    default_batch_size: ClassVar[int] = 64
    default_epochs: ClassVar[int] = 1
    conditional: ClassVar[bool] = False
    num_classes: ClassVar[int | None] = None
    #: config fields that ``ganbench train --dry-run`` shortens unless ``--set`` names them: a dry
    #: run checks the install in seconds, so long warm-up schedules run two steps too
    dry_run_overrides: ClassVar[dict[str, Any]] = {}
    #: the family's settings: a dataclass whose defaults are the family's (``--set KEY=VALUE`` changes them)
    Config: ClassVar[type]
    #: which section of the course notes (or which paper) the family reproduces, and a one-line summary
    seed_section: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: the regression gate's settings per mode: ``{"quick": {"batch_size": 64, "overrides": {...}}, "full": ...}``
    #: (a mode not named takes :data:`GATE_DEFAULTS`' batch and no overrides)
    gate: ClassVar[dict[str, dict[str, Any]]] = {}
    #: config overrides ``pytest bench`` applies on a CPU (unless ``--full-size``) to keep a cell affordable
    cpu_reduction: ClassVar[dict[str, Any]] = {}
    #: reference training loops the benchmarks compare with: kind ("seed", "minimal") → module with
    #: ``make_step(real01, device) -> step()`` and ``CYCLE`` (see ``bench.references``)
    references: ClassVar[dict[str, str]] = {}

    def __init__(self, config: Any):
        super().__init__()
        self.config = config
        self.G: nn.Module
        self.D: nn.Module
        self.opt_g: torch.optim.Optimizer
        self.opt_d: torch.optim.Optimizer

    # -- what families implement -------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The update phases of one step. The default is the standard non-saturating BCE schedule: one D step
        on a real and a fake batch (targets 1 and 0), then one G step on a fresh z (target 1)."""
        return standard_bce_phases(self)

    def latent(
        self, n: int, *, device: torch.device | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """n latent codes z ~ N(0, 1) of shape (n, config.z_dim); families with other codes override."""
        return torch.randn((n, self.config.z_dim), device=device or self.device, generator=generator)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) in the model's layout and range."""
        return self.G(z) if labels is None else self.G(z, labels)

    def d_logits(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's pre-sigmoid output (a critic's score for critics), shape (B,)."""
        raise NotImplementedError

    def build_optimizers(self) -> None:
        """Adam for both nets from the config's ``lr`` (``lr_d`` for D when set), ``beta1``, ``beta2``;
        families with other optimisers override."""
        c = self.config
        betas = (c.beta1, c.beta2)
        self.opt_d = adam(self.D.parameters(), lr=getattr(c, "lr_d", None) or c.lr, betas=betas)
        self.opt_g = adam(self.G.parameters(), lr=c.lr, betas=betas)

    def before_training(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """Called once with the first real batch of a fresh (not resumed) run."""

    # -- shared behaviour -------------------------------------------------------------------
    def cached_phases(self) -> list[Phase]:
        """:meth:`phases`, built once (closures over self; no per-step allocation)."""
        cached = self.__dict__.get("_phase_cache")
        if cached is None:
            cached = self.__dict__["_phase_cache"] = self.phases()
        return cached

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def d_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's probability that x is real (critics: the raw score)."""
        out = self.d_logits(x, labels)
        return out if self.kind == "critic" else torch.sigmoid(out)

    def prepare(self, x01: torch.Tensor) -> torch.Tensor:
        """Data-source batch → model input (range mapping; layout changes in subclasses)."""
        if self.value_range is None or self.value_range == (0.0, 1.0):
            return x01
        lo, hi = self.value_range
        return x01 * (hi - lo) + lo

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Model output → the data source's layout and range (inverse of :meth:`prepare`)."""
        if self.value_range is None or self.value_range == (0.0, 1.0):
            return x
        lo, hi = self.value_range
        return (x - lo) / (hi - lo)

    def sample_labels(
        self, n: int, *, device: torch.device | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor | None:
        if not self.conditional:
            return None
        assert self.num_classes is not None
        return torch.randint(self.num_classes, (n,), device=device or self.device, generator=generator)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 500,
    ) -> torch.Tensor:
        """n samples in data space ([0, 1] images or toy vectors), generated in eval mode."""
        was_training = self.training
        self.eval()
        try:
            out = []
            if self.conditional and labels is None:
                labels = self.sample_labels(
                    n, generator=generator, device=self.device if generator is None else generator.device
                )
            for i in range(0, n, batch_size):
                m = min(batch_size, n - i)
                z = self.latent(
                    m, device=self.device if generator is None else generator.device, generator=generator
                ).to(self.device)
                y = None if labels is None else labels[i : i + m].to(self.device)
                out.append(self.to_data(self.generate(z, y)).float())
            return torch.cat(out)
        finally:
            self.train(was_training)

    def optimizer_state(self) -> dict[str, Any]:
        return {"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

    def extra_repr(self) -> str:
        return f"name={self.name!r}, kind={self.kind!r}"


def train_step(
    gan: GAN,
    real: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    step: int = 0,
    autocast_dtype: torch.dtype | None = None,
    log: bool = True,
) -> dict[str, torch.Tensor]:
    """One training step: run each phase's update. Returns detached device scalars.

    The same function is called by the training loop and timed by the benchmarks, so what
    is timed is what trains. ``autocast_dtype`` (e.g. ``torch.bfloat16``) wraps the forward
    passes in autocast; losses are computed in float32. ``log=False`` skips what only a
    logged step reads: the gradient norms (``grad/d``, ``grad/g``); the loop passes ``True``
    on the steps whose scalars it flushes. The update itself is the same either way.
    """
    ctx = StepContext(real=real, labels=labels, step=step)
    if autocast_dtype is not None:
        amp: Any = torch.autocast(device_type=real.device.type, dtype=autocast_dtype)
    else:
        amp = None
    for phase in gan.cached_phases():
        if phase.every > 1 and step % phase.every != phase.every - 1:
            continue
        opt = gan.opt_d if phase.net == "D" else gan.opt_g
        opt.zero_grad(set_to_none=True)
        # D's weights need no gradient in a G phase: opt_d does not step, and D's .grad is cleared
        # before D's next phase. Freezing them skips D's weight-gradient products and leaves every
        # update bit for bit the same. (G is not frozen in D phases: a D phase may keep G's graph
        # for the G phase, as dcgan's does.)
        frozen = [p for p in gan.D.parameters() if p.requires_grad] if phase.net == "G" else []
        for p in frozen:
            p.requires_grad_(False)
        try:
            if amp is None:
                loss = phase.loss(ctx)
            else:
                with amp:
                    loss = phase.loss(ctx)
            loss.backward()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        if log:
            ctx.scalars["grad/d" if phase.net == "D" else "grad/g"] = grad_norm(gan.D if phase.net == "D" else gan.G)
        opt.step()
        if phase.after is not None:
            phase.after()
    return ctx.scalars


# The registry lives in registry.py; these names stay importable from here.
from .registry import GANEntry, apply_overrides, build_gan, get_gan_entry, iter_entries, list_gans, load_family  # noqa: E402,I001
