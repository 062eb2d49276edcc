"""Data-parallel training on ``torch.distributed`` (processes launched by ``torchrun``).

The loop stays the one loop; this module supplies what changes when ``WORLD_SIZE`` > 1:

* **Global batch.** ``--batch-size B`` is the global batch; each of the N ranks trains on ``B/N``
  samples per step (a B that N does not divide is a user error). Every rank walks the same global
  batch order and keeps its own contiguous slice, so ranks never overlap and the samples of one
  global step are exactly the samples a single process at batch B would see.
* **Noise per rank.** After the (identical) model build each rank reseeds from ``(seed, rank)``,
  so z, interpolates and labels differ between ranks and are reproducible.
* **DDP per net.** G and D are each wrapped in ``DistributedDataParallel``. A phase runs *through*
  its own net's DDP wrapper, so only that net's gradients are all-reduced: D's reducer is not armed
  during the G phase (the equivalent of ``no_sync``), and G's not during the D phases.
  WGAN-GP's penalty (``autograd.grad`` with ``create_graph``) runs inside the critic's phase; the
  reducer fires once per parameter in the following ``backward``. Weight clipping runs after the
  optimiser step on identical averaged gradients, so clipped weights stay identical on every rank.
* **SyncBatchNorm** for families with BatchNorm (``--set sync_bn=false`` keeps per-rank BN). On
  CUDA it is torch's own; on the CPU (which torch's SyncBatchNorm refuses) statistics are summed
  with a differentiable all-reduce.
* **One writer.** Rank 0 writes the run directory; the scalar stream is all-reduced at each flush
  (and at no other time), carrying a stop flag: divergence and Ctrl-C/SIGTERM are decided on the
  reduced values, so every rank stops at the same step and none is left waiting.
* **Resume.** Checkpoints hold every rank's RNG state: the same world size resumes bit for bit; a
  different one reseeds from ``(seed, rank, step)`` and says so in metrics.jsonl.

* **Fail fast and together.** Before the first step the ranks compare the settings that define the run
  (:data:`AGREED_SETTINGS`): a difference (batch 32 on one node and 64 on another) stops every rank with
  one line naming the setting and each rank's value. Every collective has a timeout
  (``GANBENCH_DIST_TIMEOUT`` seconds, default :data:`DEFAULT_TIMEOUT_S`); a rank that waited that long
  names the ranks that did not arrive (each rank marks its flushes in the job's store). A rank dies with
  its launcher (``PR_SET_PDEATHSIG``: it gets SIGTERM and stops with a checkpoint at the next flush).

Backend: NCCL when training on CUDA (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on the CPU.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn

from ..base import UserError
from .runtime import rng_state, seed_everything, set_rng_state

__all__ = [
    "DistContext",
    "GlobalBatchNorm",
    "context",
    "convert_sync_batchnorm",
    "env_world_size",
    "has_batchnorm",
    "leave_group",
    "rank_seed",
    "shard_batch",
    "split_sync_bn",
]

SYNC_BN_KEY = "sync_bn"
#: TrainConfig fields every rank must agree on before the first step
AGREED_SETTINGS = (
    "gan", "dataset", "batch_size", "epochs", "steps", "seed", "precision", "log_every", "checkpoint_every",
    "eval_every", "overrides", "time_budget", "evals", "epoch_size",
)
#: seconds a rank waits in a collective for the others (GANBENCH_DIST_TIMEOUT overrides); long enough for rank 0's
#: evaluations, during which the other ranks wait at the next flush
DEFAULT_TIMEOUT_S = 1800.0
TIMEOUT_ENV = "GANBENCH_DIST_TIMEOUT"


def collective_timeout_s() -> float:
    """The collective timeout in seconds (``GANBENCH_DIST_TIMEOUT``, else :data:`DEFAULT_TIMEOUT_S`)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        t = float(raw)
    except ValueError:
        t = float("nan")
    if not (1.0 <= t <= 7 * 24 * 3600):
        raise UserError(f"{TIMEOUT_ENV}={raw!r}: must be a number of seconds from 1 to 604,800")
    return t


def env_world_size() -> int:
    """The world size torchrun announced in the environment (1 when not launched by it)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank ``rank``'s random stream (z, interpolates, labels) from ``step`` on."""
    return (seed * 1_000_003 + 7_919 * (rank + 1) + 104_729 * step) % (2**63 - 1)


def split_sync_bn(overrides: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """``(overrides without sync_bn, sync_bn)``: ``sync_bn`` is a training option, not a GAN field."""
    rest = dict(overrides or {})
    value = rest.pop(SYNC_BN_KEY, True)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            value = True
        elif low in ("0", "false", "no", "off"):
            value = False
        else:
            raise UserError(f"--set sync_bn={value}: expected true or false")
    return rest, bool(value)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def shard_batch(t: torch.Tensor | None, rank: int, world: int) -> torch.Tensor | None:
    """Rank ``rank``'s contiguous slice of a global batch (the batch size must divide by ``world``)."""
    if t is None or world == 1:
        return t
    per = t.shape[0] // world
    return t[rank * per : (rank + 1) * per]


# --------------------------------------------------------------------------------------------
# SyncBatchNorm that also works on the CPU


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm for the CPU (gloo), which torch's SyncBatchNorm (and DDP with it) refuses.

    Two differentiable all-reduces (sum, then the sum of squared deviations) give the global mean
    and biased variance of the whole global batch; their backward all-reduces the gradients, as
    torch's SyncBatchNorm does on CUDA. Every rank must hold the same number of samples.
    """

    def __init__(self, *args: Any, process_group: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:  # noqa: A002 - torch's name
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - torch's name
        if not (
            self.training
            and dist.is_available()
            and dist.is_initialized()
            and dist.get_world_size(self.process_group or dist.group.WORLD) > 1
        ):
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce

        group = self.process_group or dist.group.WORLD
        world = dist.get_world_size(group)
        dims = [0] + list(range(2, input.dim()))
        shape = [1, -1] + [1] * (input.dim() - 2)
        n = input.numel() // input.shape[1] * world
        x = input if input.dtype in (torch.float32, torch.float64) else input.float()
        mean = all_reduce(x.sum(dims), group=group) / n
        centred = x - mean.reshape(shape)
        var = all_reduce((centred * centred).sum(dims), group=group) / n
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
        return out.to(input.dtype)


def convert_sync_batchnorm(module: nn.Module, process_group: Any = None) -> nn.Module:
    """Every BatchNorm in ``module`` → torch's SyncBatchNorm on CUDA, :class:`GlobalBatchNorm` on the CPU
    (parameters and buffers are shared, so optimisers and checkpoints are unchanged)."""
    first = next(iter(module.parameters()), None)
    if first is not None and first.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module, process_group)
    return _convert_cpu(module, process_group)


def _convert_cpu(module: nn.Module, process_group: Any) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, (nn.SyncBatchNorm, GlobalBatchNorm)
    ):
        out = GlobalBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            process_group=process_group,
        )
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, _convert_cpu(child, process_group))
    return out


# --------------------------------------------------------------------------------------------
# DDP around phases


class _Through(nn.Module):
    """Lets DDP run any computation of ``net`` (a phase's loss) as its forward."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        return fn()


class CommTimer:
    """A DDP comm hook that all-reduces like the default one and records each bucket's
    (start, end) in ``perf_counter`` seconds; :meth:`busy_s` is the union of those intervals."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []

    def hook(self, state, bucket):  # noqa: ANN001, ANN201 - DDP refuses string annotations here
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        start = time.perf_counter()
        fut = allreduce_hook(state, bucket)

        def done(f: torch.futures.Future) -> torch.Tensor:
            self.intervals.append((start, time.perf_counter()))
            return f.value()[0] if isinstance(f.value(), list) else f.value()

        return fut.then(done)

    def reset(self) -> None:
        self.intervals.clear()

    def busy_s(self) -> float:
        total, end = 0.0, -float("inf")
        for a, b in sorted(self.intervals):
            if b <= end:
                continue
            total += b - max(a, end)
            end = b
        return total


# --------------------------------------------------------------------------------------------
# The context the loop talks to


@dataclass
class DistContext:
    """This process's place in the job (world 1: a plain single-process run)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None
    sync_bn: bool = True
    comm: CommTimer | None = None
    _stop_signal: bool = False
    _stop_agreed: bool = False
    _signals: int = 0
    _old_handlers: dict[int, Any] = field(default_factory=dict)
    ddp: dict[str, Any] = field(default_factory=dict)
    budget_check: Callable[[], bool] | None = None  # this rank's "time budget spent", shared at each flush
    _budget_agreed: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S  # of every collective (GANBENCH_DIST_TIMEOUT)
    _beats: int = 0  # collectives entered (marked in the store for other ranks' timeout messages)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    # -- set-up --------------------------------------------------------------------------------
    def check_batch(self, batch_size: int) -> int:
        """The per-rank batch of global batch ``batch_size``."""
        if batch_size % self.world:
            raise UserError(
                f"--batch-size {batch_size} is the global batch and must divide evenly among the {self.world} "
                f"processes; use a multiple of {self.world}"
            )
        return batch_size // self.world

    def device(self, device: torch.device) -> torch.device:
        if self.active and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def info(self, batch_size: int) -> dict[str, Any]:
        return {
            "world_size": self.world,
            "backend": self.backend,
            "batch_size": batch_size,
            "per_rank_batch_size": batch_size // self.world,
            "batch_size_is": "global: --batch-size is split evenly among the processes",
            "sync_bn": self.sync_bn,
        }

    def prepare_gan(self, gan: Any) -> Any:
        """SyncBatchNorm for BN families (unless turned off); call before loading a checkpoint."""
        if self.active and self.sync_bn:
            for name in ("G", "D"):
                net = getattr(gan, name)
                if has_batchnorm(net):
                    setattr(gan, name, convert_sync_batchnorm(net))
        return gan

    def seed_rank(self, seed: int, step: int = 0) -> None:
        """Each rank's own random stream from ``(seed, rank, step)`` (world 1: unchanged)."""
        if self.active:
            seed_everything(rank_seed(seed, self.rank, step))

    def wrap(self, gan: Any, *, comm_timer: bool = False) -> None:
        """Wrap G and D in DDP and route every phase through its own net's wrapper."""
        if not self.active:
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        dev = gan.device
        if comm_timer:
            self.comm = CommTimer()
        for name in ("G", "D"):
            net = getattr(gan, name)
            ddp = DDP(
                _Through(net),
                device_ids=[dev.index] if dev.type == "cuda" else None,
                forward_sync_buffers=not self.sync_bn and bool(list(net.buffers())),
            )
            if self.comm is not None:
                ddp.register_comm_hook(None, self.comm.hook)
            self.ddp[name] = ddp
        phases = gan.phases()
        gan.__dict__["_phase_cache"] = [dataclasses.replace(p, loss=self._through(p.net, p.loss)) for p in phases]

    def _through(self, net: str, loss: Callable[[Any], torch.Tensor]) -> Callable[[Any], torch.Tensor]:
        ddp = self.ddp[net]
        return lambda ctx: ddp(lambda: loss(ctx))

    def sync_state(self, gan: Any) -> None:
        """Rank 0's weights, buffers and optimiser states on every rank (after a data-dependent init)."""
        if not self.active:
            return
        with torch.no_grad():
            for t in list(gan.parameters()) + list(gan.buffers()):
                dist.broadcast(t.data, src=0)
        state = [gan.optimizer_state() if self.rank == 0 else None]
        dist.broadcast_object_list(state, src=0)
        gan.load_optimizer_state(_to_device(state[0], gan.device))

    def check_agree(self, settings: dict[str, Any]) -> None:
        """Every rank was started with the same ``settings`` (one collective, before the first step); otherwise
        every rank raises the same :class:`UserError` naming the first setting that differs."""
        if not self.active:
            return
        import json

        mine = json.dumps(settings, sort_keys=True, default=str)
        everyone: list[Any] = [None] * self.world
        self.collective(lambda: dist.all_gather_object(everyone, mine), "the settings check")
        if all(e == mine for e in everyone):
            return
        parsed = [json.loads(e) for e in everyone]
        for key in sorted(settings):
            values = [p.get(key) for p in parsed]
            if any(v != values[0] for v in values):
                shown = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
                raise UserError(
                    f"the ranks were launched with different {key} ({shown}); launch every rank with the same settings"
                )

    def collective(self, fn: Callable[[], Any], what: str) -> Any:
        """Run collective ``fn``; a timeout or a lost peer is a :class:`UserError` naming the ranks missing."""
        self._beats += 1
        self._beat()
        try:
            return fn()
        except RuntimeError as e:  # gloo/NCCL: timeouts, "Connection closed by peer" (DistError is one)
            raise UserError(self._missing(what, e)) from None

    def guard_step(self, fn: Callable[[], Any]) -> Any:
        """Run one training step; DDP's gradient all-reduce losing a peer is a :class:`UserError` naming it."""
        try:
            return fn()
        except RuntimeError as e:
            text = str(e).lower()
            if isinstance(e, getattr(dist, "DistError", ())) or "gloo" in text or "nccl" in text:
                raise UserError(self._missing("a training step's gradient all-reduce", e)) from None
            raise

    def _beat(self) -> None:
        """Mark in the job's store how many collectives this rank has entered (read when another rank times out)."""
        try:
            dist.distributed_c10d._get_default_store().set(f"ganbench/beat/{self.rank}", str(self._beats))
        except Exception:  # noqa: BLE001 - a mark for messages only
            pass

    def _missing(self, what: str, error: BaseException) -> str:
        behind: list[str] = []
        try:
            store = dist.distributed_c10d._get_default_store()
            store.set_timeout(timedelta(seconds=5))
            for r in range(self.world):
                if r == self.rank:
                    continue
                key = f"ganbench/beat/{r}"
                seen = int(store.get(key).decode()) if store.check([key]) else 0
                if seen < self._beats:
                    behind.append(f"rank {r} (at collective {seen}, this rank at {self._beats})")
        except Exception:  # noqa: BLE001 - the store went with the launcher: name no one
            behind = []
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        others = [r for r in range(self.world) if r != self.rank]
        who = (
            ", ".join(behind)
            if behind
            else f"rank {others[0]}"
            if len(others) == 1
            else f"one of ranks {', '.join(map(str, others))}"
        )
        return (
            f"rank {self.rank}: {who} did not arrive at {what} within {self.timeout_s:g} s or left the job "
            f"({first}); it stopped, died or runs other settings (the timeout is {TIMEOUT_ENV})"
        )

    # -- the stream ----------------------------------------------------------------------------
    def reduce_scalars(self, stacked: torch.Tensor) -> torch.Tensor:
        """Mean over ranks of the stream's sums (one all-reduce), with the stop flag riding along."""
        spent = self.budget_check is not None and self.budget_check()
        flags = torch.tensor(
            [1.0 if self._stop_signal else 0.0, 1.0 if spent else 0.0], device=stacked.device, dtype=stacked.dtype
        )
        buf = torch.cat([stacked, flags])
        self.collective(lambda: dist.all_reduce(buf), "a flush of the logged scalars")
        self._stop_agreed, self._budget_agreed = bool(buf[-2].item() > 0), bool(buf[-1].item() > 0)
        return buf[:-2] / self.world

    def budget_spent(self, local: bool) -> bool:
        """Whether the time budget is spent: ``local`` in one process; any rank's, as of the last flush, in DDP."""
        return self._budget_agreed if self.active else local

    def stop_requested(self) -> bool:
        """True on every rank once any rank was signalled (decided at the last flush)."""
        return self._stop_agreed

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM set a flag that the next flush shares; a second signal interrupts at once."""
        self._stop_signal = self._stop_agreed = self._budget_agreed = False
        self._signals = 0
        if not self.active:
            return

        def handler(signum: int, frame: Any) -> None:
            self._signals += 1
            self._stop_signal = True
            if self._signals > 1:
                raise KeyboardInterrupt

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass

    def restore_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers.clear()

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_extra(self) -> dict[str, Any]:
        """Every rank's RNG state (a collective: every rank calls it), for rank 0's checkpoint."""
        if not self.active:
            return {"world_size": 1}
        states: list[Any] = [None] * self.world
        self.collective(lambda: dist.all_gather_object(states, rng_state()), "a checkpoint")
        return {"world_size": self.world, "rng_ranks": states}

    def restore_rng(self, ckpt: dict[str, Any], seed: int, step: int) -> str | None:
        """Restore this rank's RNG from a checkpoint; a note when the world size changed."""
        saved = int(ckpt.get("world_size", 1))
        if saved == self.world:
            if self.active:
                set_rng_state(ckpt["rng_ranks"][self.rank])
            return None
        if self.active:
            self.seed_rank(seed, step)
        else:
            seed_everything(rank_seed(seed, 0, step))
        return (
            f"resumed at world size {self.world} from a checkpoint written at world size {saved}: same global "
            f"batch and data order, but the random streams (z, interpolates) restart from (seed, rank, step), "
            f"so this run does not match an uninterrupted one bit for bit"
        )

    def barrier(self) -> None:
        if self.active:
            self.collective(dist.barrier, "a barrier")

    def broadcast_object(self, obj: Any) -> Any:
        if not self.active:
            return obj
        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj


_CONTEXT: DistContext | None = None


def context(device: str = "auto") -> DistContext:
    """This process's :class:`DistContext`; joins the process group on first call under torchrun."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    world = env_world_size()
    if world == 1:
        _CONTEXT = DistContext()
        return _CONTEXT
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if on_cuda else "gloo"
    if on_cuda:
        if not torch.cuda.is_available():
            raise UserError(f"--device {device} was asked for but no CUDA GPU is available to this torch")
        if local_rank >= torch.cuda.device_count():
            raise UserError(
                f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible; "
                "use --nproc-per-node ≤ the number of GPUs"
            )
        torch.cuda.set_device(local_rank)
    timeout = collective_timeout_s()
    if os.environ.get("TORCHELASTIC_RUN_ID"):  # launched by torchrun / --nproc: die with the launcher
        from ..signals import die_with_parent

        die_with_parent(signal.SIGTERM)
        if os.getppid() == 1:  # the launcher was already gone
            raise UserError("the torchrun launcher of this rank is gone; not starting")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout))
        # left at interpreter exit, not after each command (a process may run several jobs): gloo threads torn
        # down with the group alive could abort a rank after a finished run (exit -6)
        atexit.register(leave_group)
    _CONTEXT = DistContext(
        world=dist.get_world_size(), rank=dist.get_rank(), local_rank=local_rank, backend=backend, timeout_s=timeout
    )
    return _CONTEXT


def leave_group() -> None:
    """Forget the context and leave the process group, ignoring errors (a rank stopping on an error)."""
    try:
        reset_context()
    except Exception:  # noqa: BLE001 - the group may already be broken; the process is ending anyway
        global _CONTEXT
        _CONTEXT = None


def reset_context() -> None:
    """Forget the context and leave the process group (tests and benchmarks run several jobs)."""
    global _CONTEXT
    if _CONTEXT is not None:
        _CONTEXT.restore_signal_handlers()
    _CONTEXT = None
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
