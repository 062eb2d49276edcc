"""pytest-benchmark suites for ganbench: ``pytest bench --benchmark-autosave``.

Grid: every registered GAN (``gans.list_gans()``, so new families are included automatically)
× batch 96 and 512 × every available device × fp32, changed with ``--gans``, ``--batch-sizes``,
``--devices``, ``--precisions`` (and ``--bench-threads`` for the CPU thread count).

Idioms (after pytorch's benchmarks/fastrnns/test_bench.py): models are built outside the
timed region by a session-scoped fixture per (GAN, device), once per cell (batch size ×
precision), keeping one live model at a time so memory peaks stay per cell; the timed callable is wrapped so that it
synchronises CUDA before returning (GPU work is inside every round); correctness is asserted
after timing (losses finite, G's and D's parameters changed).

What is timed: ``gans.core.train_step`` on a random ``[0, 1]`` batch of the GAN's data shape
(the ``fake`` source), prepared and on the device before timing. One round = one phase cycle
(one step for every GAN whose phases all run every step).

CPU budget: the default run must finish in minutes on a 2-core CPU, so on the CPU each cell
first runs one warm-up step under FlopCounterMode and times it, then picks its rounds so that
the timed region takes about ``CPU_CELL_BUDGET_S`` seconds (1 to 50 rounds, 1 iteration; heavy
cells get a single round after that warm-up step). celeba_conv's seed width (256-channel k8
convolutions, seconds per image on such a CPU) cannot run one step at batch 512 in that
budget, so on the CPU it is timed at ``CPU_REDUCED`` (32 channels, same layers and schedule).
Every such choice is recorded in extra_info and printed in the terminal summary.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from bench.timing import PRECISIONS, Cell, MemorySampler, PreparedStep, count_flops, cuda_sync, machine_facts, prepare_step, rss_bytes

CPU_CELL_BUDGET_S = 4.0  # timed seconds per cell on the CPU (after warm-up)
CUDA_ROUNDS, CUDA_WARMUP = 30, 5  # GPU cells are cheap: fixed rounds
CPU_REDUCED: dict[str, dict[str, Any]] = {"celeba_conv": {"channels": 32}}

_SUMMARY: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ganbench", "ganbench benchmark grid")
    g.addoption("--gans", nargs="+", default=None, metavar="GAN", help="GANs to time (default: every registered GAN)")
    g.addoption("--batch-sizes", nargs="+", type=int, default=[96, 512], metavar="N", help="batch sizes (default 96 512)")
    g.addoption("--devices", nargs="+", default=None, metavar="DEV", help="devices (default: cpu and cuda when present)")
    g.addoption("--precisions", nargs="+", default=["fp32"], metavar="P", help="fp32 and/or bf16 (default fp32)")
    g.addoption("--bench-threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's default)")
    g.addoption("--full-size", action="store_true", help="CPU: time every GAN at its seed size (no CPU_REDUCED widths)")


def pytest_configure(config: pytest.Config) -> None:
    n = config.getoption("--bench-threads", default=None)
    if n:
        torch.set_num_threads(n)


def _grid(config: pytest.Config) -> tuple[list[str], list[int], list[str], list[str]]:
    from gans.core import get_gan_entry, list_gans

    gans = config.getoption("--gans") or list_gans()
    for g in gans:
        get_gan_entry(g)
    devices = config.getoption("--devices") or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    precisions = config.getoption("--precisions")
    for p in precisions:
        if p not in PRECISIONS:
            raise pytest.UsageError(f"--precisions: unknown {p!r}; valid: {', '.join(PRECISIONS)}")
    return list(gans), list(config.getoption("--batch-sizes")), list(devices), list(precisions)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gan_on_device" not in metafunc.fixturenames:
        return
    gans, batch_sizes, devices, precisions = _grid(metafunc.config)
    keys = [(g, d) for g in gans for d in devices]
    metafunc.parametrize("gan_on_device", keys, ids=[f"{g}-{d}" for g, d in keys], indirect=True, scope="session")
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", batch_sizes, ids=[f"bs{b}" for b in batch_sizes])
    if "precision" in metafunc.fixturenames:
        metafunc.parametrize("precision", precisions)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "cuda" in item.name and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU"))


class GANOnDevice:
    """A (GAN, device) pair whose models are built once and reused across its cells."""

    def __init__(self, gan: str, device: str, reduced: dict[str, Any]):
        self.gan, self.device, self.reduced = gan, device, reduced
        self._preps: dict[tuple[int, str], PreparedStep] = {}
        self.rss_start = rss_bytes()

    def cell(self, batch_size: int, precision: str) -> PreparedStep:
        """The prepared step for this batch size and precision (GAN built on first use)."""
        key = (batch_size, precision)
        if key not in self._preps:
            self._preps.clear()  # one live model per (GAN, device): memory stays honest
            if torch.device(self.device).type == "cuda":
                torch.cuda.empty_cache()
            self.rss_start = rss_bytes()
            cell = Cell(self.gan, batch_size, self.device, precision, False, None, tuple(sorted(self.reduced.items())))
            self._preps[key] = prepare_step(cell)
        return self._preps[key]


@pytest.fixture(scope="session")
def gan_on_device(request: pytest.FixtureRequest):
    gan, device = request.param
    if device.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    reduced = {} if request.config.getoption("--full-size") or device.startswith("cuda") else CPU_REDUCED.get(gan, {})
    holder = GANOnDevice(gan, device, reduced)
    yield holder
    holder._preps.clear()


def cuda_synced(prep: PreparedStep):
    """The timed callable: one phase cycle, then wait for the GPU so its work is inside the round."""
    dev = prep.device

    def run() -> None:
        prep.run_cycle()
        cuda_sync(dev)

    return run


def plan_rounds(probe_s: float, device: str) -> tuple[int, int, int]:
    """(rounds, iterations, warmup_rounds) for one cell from a warm-up step's duration."""
    if torch.device(device).type == "cuda":
        return CUDA_ROUNDS, 1, CUDA_WARMUP
    rounds = max(1, min(50, int(CPU_CELL_BUDGET_S / max(probe_s, 1e-6))))
    warmup_rounds = 1 if probe_s < 0.5 else 0  # heavy cells: the FLOP step was their warm-up
    return rounds, 1, warmup_rounds


def record_summary(line: str) -> None:
    _SUMMARY.append(line)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if not _SUMMARY:
        return
    tr = terminalreporter
    tr.section("ganbench: per-cell settings (what was timed)")
    tr.write_line("timed: gans.core.train_step on a prepared random batch already on the device; warm-up excluded; one round = one phase cycle")
    tr.write_line(f"CPU: rounds chosen so each cell's timed region is about {CPU_CELL_BUDGET_S:g} s; heavy cells get 1 round after 1 warm-up step")
    for line in _SUMMARY:
        tr.write_line("  " + line)


def pytest_benchmark_update_machine_info(config, machine_info: dict[str, Any]) -> None:  # noqa: ANN001
    facts = machine_facts()
    machine_info["ganbench"] = facts
    machine_info["torch"] = {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": facts.get("gpu"),
        "gpu_capability": facts.get("gpu_capability"),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def run_cell(benchmark, holder: GANOnDevice, batch_size: int, precision: str) -> PreparedStep:  # noqa: ANN001
    """Warm up, time with benchmark.pedantic, record extra_info; returns the prepared step."""
    prep = holder.cell(batch_size, precision)
    dev = prep.device
    t0 = time.perf_counter()
    flops = count_flops(prep)  # warm-up step 1, also gives FLOPs
    cuda_sync(dev)
    probe_s = (time.perf_counter() - t0) * prep.cycle  # a cycle's duration, roughly
    rounds, iterations, warmup_rounds = plan_rounds(probe_s, holder.device)
    target = cuda_synced(prep)
    mem: dict[str, Any] = {}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        benchmark.pedantic(target, rounds=rounds, iterations=iterations, warmup_rounds=warmup_rounds)
        mem = {"peak_mem_mb": torch.cuda.max_memory_allocated(dev) / 2**20, "mem_kind": "cuda_max_memory_allocated"}
    else:
        with MemorySampler() as sampler:
            benchmark.pedantic(target, rounds=rounds, iterations=iterations, warmup_rounds=warmup_rounds)
        mem = {"peak_mem_mb": max(0, sampler.peak - holder.rss_start) / 2**20, "mem_kind": "cpu_rss_increase_sampled"}
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    median_step_s = stats.median / prep.cycle if stats is not None else float("nan")
    reduced = ", ".join(f"{k}={v}" for k, v in holder.reduced.items())
    benchmark.extra_info.update(
        gan=holder.gan, batch_size=batch_size, device=holder.device, precision=precision,
        images_per_s=batch_size / median_step_s if median_step_s > 0 else None,
        ms_per_step=median_step_s * 1000.0,
        flops_per_step=flops, cycle=prep.cycle, rounds=rounds, iterations=iterations,
        warmup_rounds=warmup_rounds, warmup_steps_before=1, overrides=dict(getattr(prep, "overrides", {})),
        reduced=reduced or None, threads=torch.get_num_threads(),
        data="fake: random batch, prepared and on the device before timing",
        **mem,
    )
    record_summary(
        f"{holder.gan}-{holder.device} bs{batch_size} {precision}: {rounds} round(s) × {iterations} iteration(s), "
        f"{warmup_rounds} warm-up round(s) after 1 FLOP-counting warm-up step"
        + (f"; REDUCED on this device: {reduced} (seed size: pass --full-size)" if reduced else "")
        + (f"; {batch_size / median_step_s:.1f} images/s" if median_step_s > 0 else "")
    )
    return prep


def assert_trained(prep: PreparedStep) -> None:
    problems = prep.check()
    assert not problems, f"{prep.cell.key}: {'; '.join(problems)}"


@pytest.fixture
def timed_cell(benchmark, gan_on_device):  # noqa: ANN001
    """``timed_cell(batch_size, precision)`` → the prepared step, timed and checked."""

    def go(batch_size: int, precision: str) -> PreparedStep:
        prep = run_cell(benchmark, gan_on_device, batch_size, precision)
        assert_trained(prep)
        return prep

    return go

