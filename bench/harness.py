"""The harness of the pytest-benchmark suites (``pytest bench --benchmark-autosave``); bench/conftest.py wires it in.

Grid: every registered GAN (``gans.models.list_gans()``, so new families are included automatically)
× batch 96 and 512 × every available device × fp32, changed with ``--gans``, ``--batch-sizes``,
``--devices``, ``--precisions`` (and ``--bench-threads`` for the CPU thread count).

Idioms (after pytorch's benchmarks/fastrnns/test_bench.py): models are built outside the
timed region by a session-scoped fixture per (GAN, device), once per cell (batch size ×
precision), keeping one live model at a time so memory peaks stay per cell; the timed callable is wrapped so that it
synchronises CUDA before returning (GPU work is inside every round); correctness is asserted
after timing (losses finite, G's and D's parameters changed).

What is timed: ``gans.models.train_step`` on a random ``[0, 1]`` batch of the GAN's data shape
(the ``fake`` source), prepared and on the device before timing. One round = one phase cycle
(one step for every GAN whose phases all run every step).

CPU budget: the default run (all 11 GANs × batch 96 and 512, plus the overhead benchmark) must
finish in under 10 minutes on a quiet 2-core CPU (it takes about 3–5), so on the CPU

* every cell first runs one warm-up step under FlopCounterMode and times it, then picks its rounds
  so that the timed region takes about ``--cpu-cell-budget`` seconds (default
  ``CPU_CELL_BUDGET_S``; 1 to 50 rounds of 1 iteration); a cell whose warm-up step took ≥ 0.5 s
  gets no further warm-up round (the FLOP step was its warm-up), so heavy cells are exactly
  1 warm-up step + 1 timed round;
* the two GANs whose seed size takes minutes per step on such a CPU run reduced,
  each family's declared ``cpu_reduction`` (celeba_conv 16 channels, segan window 1024 with a
  half-width encoder): same layers, losses and schedule, every GAN still at batch 96 and 512;
  dcgan, celeba_mlp and the MLP GANs run at their seed size. ``--full-size`` times the seed sizes;
* every cell runs under a wall-clock limit, ``--cell-limit`` seconds (default
  ``CELL_LIMIT_S``; 0 = none): past it the cell fails with a clear message instead of running
  away (e.g. ``--full-size`` celeba_conv at batch 512 would take hours on such a CPU).

Each reduction is recorded in the entry's ``extra_info["cpu_reduction"]`` (``None`` at seed size),
announced in the report header and listed in the terminal summary.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from bench.cells import Cell
from bench.contention import Probe, Readings, judge
from bench.limits import CellOverTime, cell_time_limit, cpu_reduction, cpu_reductions, describe_overrides
from bench.machine import cuda_sync, machine_facts, mfu, peak_flops
from bench.memory import MemorySampler, rss_bytes
from bench.references import references_for
from bench.timing import PreparedStep, ReferencePrepared, count_flops, prepare_step
from gans.base import PRECISIONS, UserError

CPU_CELL_BUDGET_S = 4.0  # timed seconds per cell on the CPU (after warm-up)
CELL_LIMIT_S = 240.0  # wall-clock limit per cell (build, warm-up, timing); a heavy reduced cell takes ~10-50 s
HEAVY_PROBE_S = 0.5  # a warm-up step at least this long: no extra warm-up round
CUDA_ROUNDS, CUDA_WARMUP = 30, 5  # GPU cells are cheap: fixed rounds

_SUMMARY: list[str] = []  # one line per timed cell
_REDUCED: dict[str, dict[str, Any]] = {}  # "gan-device" -> the reduction actually applied
_OVERHEAD: list[str] = []  # lines from bench/test_overhead.py
_T0 = [0.0]
_PEAKS: dict[tuple[str, str], float] = {}  # (device, precision) -> matmul FLOP/s measured in this session


def session_peak(device: str, precision: str) -> float:
    """This device's matmul peak, measured once per session (same process, precision and threads)."""
    key = (str(torch.device(device)), precision)
    if key not in _PEAKS:
        _PEAKS[key] = peak_flops(device, precision)
    return _PEAKS[key]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ganbench", "ganbench benchmark grid")
    g.addoption(
        "--gans",
        nargs="+",
        default=None,
        metavar="GAN",
        help="GANs to time: registered names, PATH.py:CLASS or MODULE:CLASS (default: every registered GAN)",
    )
    g.addoption(
        "--batch-sizes", nargs="+", type=int, default=[96, 512], metavar="N", help="batch sizes (default 96 512)"
    )
    g.addoption(
        "--devices", nargs="+", default=None, metavar="DEV", help="devices (default: cpu and cuda when present)"
    )
    g.addoption("--precisions", nargs="+", default=["fp32"], metavar="P", help="fp32 and/or bf16 (default fp32)")
    g.addoption(
        "--bench-threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's default)"
    )
    g.addoption(
        "--full-size",
        action="store_true",
        help="CPU: time every GAN at its seed size (no CPU reductions; celeba_conv and segan then take minutes per "
        "cell)",
    )
    g.addoption(
        "--cpu-cell-budget",
        type=float,
        default=CPU_CELL_BUDGET_S,
        metavar="S",
        help=f"CPU: timed seconds per cell after warm-up (default {CPU_CELL_BUDGET_S:g}; 1 to 50 rounds)",
    )
    g.addoption(
        "--cell-limit",
        type=float,
        default=CELL_LIMIT_S,
        metavar="S",
        help=f"fail a cell that runs longer than S seconds in all (default {CELL_LIMIT_S:g}; 0 = no limit)",
    )
    g.addoption(
        "--world-sizes",
        nargs="+",
        type=int,
        default=None,
        metavar="N",
        help="also run bench/test_scaling.py: the same step under DDP on N torchrun processes per cell (global "
        "batch split B/N; gloo with 1 thread per rank on the CPU); rows via bench.scaling",
    )


def pytest_configure(config: pytest.Config) -> None:
    n = config.getoption("--bench-threads", default=None)
    if n:
        torch.set_num_threads(n)
    _T0[0] = time.perf_counter()


def _grid(config: pytest.Config) -> tuple[list[str], list[int], list[str], list[str]]:
    from gans.models.core import list_gans, load_family

    # names, PATH.py:CLASS or MODULE:CLASS, as typed on pytest's command line (what the user typed: loaded here)
    try:
        gans = [load_family(g).name for g in config.getoption("--gans") or []] or list_gans()
    except UserError as e:
        raise pytest.UsageError(f"--gans: {e}") from None
    devices = config.getoption("--devices") or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    precisions = config.getoption("--precisions")
    for p in precisions:
        if p not in PRECISIONS:
            raise pytest.UsageError(f"--precisions: unknown {p!r}; valid: {', '.join(PRECISIONS)}")
    return list(gans), list(config.getoption("--batch-sizes")), list(devices), list(precisions)


def _seed_values(gan: str, overrides: dict[str, Any]) -> str:
    """``"channels=16 (seed 256)"`` for the terminal: each reduced field next to its default."""
    from gans.models.core import get_gan_entry

    default = get_gan_entry(gan).config_cls()
    parts = []
    for k, v in overrides.items():
        seed = getattr(default, k, "?")
        parts.append(f"{describe_overrides({k: v})} (default {tuple(seed) if isinstance(seed, list) else seed})")
    return ", ".join(parts)


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        gans, _, devices, _ = _grid(config)
    except Exception:  # noqa: BLE001 — the grid's own errors are reported at collection
        return []
    if "cpu" not in devices:
        return []
    if config.getoption("--full-size"):
        return ["ganbench: --full-size: every GAN at its seed size on the CPU (heavy cells take minutes)"]
    red = [f"{g} [{describe_overrides(cpu_reduction(g, 'cpu'))}]" for g in gans if cpu_reduction(g, "cpu")]
    if not red:
        return []
    return [
        f"ganbench: CPU cells of {', '.join(red)} run at REDUCED size to fit the CPU budget (seed size: --full-size)"
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "world_size" in metafunc.fixturenames:
        from bench.scaling import scaling_grid

        scaling_grid(metafunc, _grid(metafunc.config))
        return
    if "reference" in metafunc.fixturenames:
        _generate_reference_tests(metafunc)
        return
    if "gan_on_device" not in metafunc.fixturenames:
        return
    gans, batch_sizes, devices, precisions = _grid(metafunc.config)
    keys = [(g, d) for g in gans for d in devices]
    metafunc.parametrize("gan_on_device", keys, ids=[f"{g}-{d}" for g, d in keys], indirect=True, scope="session")
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", batch_sizes, ids=[f"bs{b}" for b in batch_sizes])
    if "precision" in metafunc.fixturenames:
        metafunc.parametrize("precision", precisions)


def _generate_reference_tests(metafunc: pytest.Metafunc) -> None:
    gans, batch_sizes, devices, precisions = _grid(metafunc.config)
    refs = [(g, d, k) for g in gans for d in devices for k in references_for(g)] if "fp32" in precisions else []
    metafunc.parametrize("reference", refs, ids=[f"{g}-{d}-{k}" for g, d, k in refs])
    metafunc.parametrize("batch_size", batch_sizes, ids=[f"bs{b}" for b in batch_sizes])


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
    reduced = cpu_reduction(gan, device, full_size=request.config.getoption("--full-size"))
    if reduced:
        _REDUCED[f"{gan}-{device}"] = reduced
    holder = GANOnDevice(gan, device, reduced)
    yield holder
    holder._preps.clear()


def cuda_synced(prep: PreparedStep | ReferencePrepared):
    """The timed callable: one phase cycle, then wait for the GPU so its work is inside the round."""
    dev = prep.device

    def run() -> None:
        prep.run_cycle()
        cuda_sync(dev)

    return run


def plan_rounds(probe_s: float, device: str, budget_s: float = CPU_CELL_BUDGET_S) -> tuple[int, int, int]:
    """(rounds, iterations, warmup_rounds) for one cell from a warm-up cycle's duration."""
    if torch.device(device).type == "cuda":
        return CUDA_ROUNDS, 1, CUDA_WARMUP
    rounds = max(1, min(50, int(budget_s / max(probe_s, 1e-6))))
    warmup_rounds = 1 if probe_s < HEAVY_PROBE_S else 0  # heavy cells: the FLOP step was their warm-up
    return rounds, 1, warmup_rounds


def record_summary(line: str) -> None:
    _SUMMARY.append(line)


def record_overhead(line: str) -> None:
    """A line for the terminal summary from the overhead benchmark."""
    _OVERHEAD.append(line)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    tr = terminalreporter
    if _REDUCED or (_SUMMARY and config.getoption("--full-size")):
        tr.section("ganbench: CPU reductions (these cells are NOT the seed-size models)")
        if _REDUCED:
            tr.write_line(
                "To fit the default run in minutes on a small CPU these GANs were timed at reduced size on the CPU"
            )
            tr.write_line(
                "(same layers, losses and phase schedule; recorded as extra_info['cpu_reduction']); pass "
                "--full-size for seed sizes:"
            )
            for name, red in sorted(_REDUCED.items()):
                tr.write_line(f"  {name}: {_seed_values(name.rsplit('-', 1)[0], red)}")
        else:
            tr.write_line("--full-size: every GAN was timed at its seed size.")
    if _SUMMARY:
        tr.section("ganbench: per-cell settings (what was timed)")
        tr.write_line(
            "timed: gans.models.train_step on a prepared random batch already on the device; warm-up "
            "excluded; one round = one phase cycle"
        )
        budget = config.getoption("--cpu-cell-budget")
        tr.write_line(
            f"CPU: rounds chosen so each cell's timed region is about {budget:g} s; cells whose warm-up step "
            f"took ≥ {HEAVY_PROBE_S:g} s "
            "get 1 warm-up step (FLOP counting) and no warm-up round; per-cell limit "
            f"{config.getoption('--cell-limit'):g} s"
        )
        for line in _SUMMARY:
            tr.write_line("  " + line)
    if _OVERHEAD:
        tr.section("ganbench: timer overhead")
        for line in _OVERHEAD:
            tr.write_line("  " + line)
    if _SUMMARY or _OVERHEAD:
        tr.write_line(
            f"ganbench: session wall time {time.perf_counter() - _T0[0]:.0f} s, torch threads {torch.get_num_threads()}"
        )


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
    machine_info["ganbench_cpu_reductions"] = (
        {}
        if config.getoption("--full-size")
        else {g: describe_overrides(r) for g, r in cpu_reductions(_grid(config)[0]).items()}
    )


def _pedantic(benchmark, target, prep, rounds: int, iterations: int, warmup_rounds: int) -> Readings:  # noqa: ANN001
    """``benchmark.pedantic`` with contention readings over it (:mod:`bench.contention`), judged on its rounds.

    pytest-benchmark takes one ``pedantic`` call per test, so a disturbed cell is not re-measured here (the sweep
    does that): it is recorded as ``contention="disturbed"`` in extra_info, marked in the terminal summary and
    shown as disturbed by bench-report."""
    threads = torch.get_num_threads() if prep.device.type == "cpu" else 1
    with Probe(threads, cpu_rule=prep.device.type == "cpu") as probe:
        benchmark.pedantic(target, rounds=rounds, iterations=iterations, warmup_rounds=warmup_rounds)
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    return judge(probe.r, list(stats.data) if stats is not None else None, gan=prep.cell.gan)


def _load_info(load: Readings) -> dict[str, Any]:
    return {"contention": "disturbed" if load.disturbed else "clean", "load": load.to_dict()}


def run_cell(
    benchmark,
    holder: GANOnDevice,
    batch_size: int,
    precision: str,
    *,
    budget_s: float = CPU_CELL_BUDGET_S,
    limit_s: float | None = CELL_LIMIT_S,
) -> PreparedStep:  # noqa: ANN001
    """Build, warm up, time with benchmark.pedantic, record extra_info; returns the prepared step."""
    t_cell = time.perf_counter()
    what = f"{holder.gan}-{holder.device} bs{batch_size} {precision}"
    try:
        with cell_time_limit(limit_s, what):
            prep = holder.cell(batch_size, precision)
            dev = prep.device
            t0 = time.perf_counter()
            flops = count_flops(prep)  # warm-up step 1, also gives FLOPs
            cuda_sync(dev)
            probe_s = (time.perf_counter() - t0) * prep.cycle  # a cycle's duration, roughly
            rounds, iterations, warmup_rounds = plan_rounds(probe_s, holder.device, budget_s)
            target = cuda_synced(prep)
            mem: dict[str, Any] = {}
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
                load = _pedantic(benchmark, target, prep, rounds, iterations, warmup_rounds)
                mem = {
                    "peak_mem_mb": torch.cuda.max_memory_allocated(dev) / 2**20,
                    "mem_kind": "cuda_max_memory_allocated",
                }
            else:
                with MemorySampler() as sampler:
                    load = _pedantic(benchmark, target, prep, rounds, iterations, warmup_rounds)
                mem = {"peak_mem_mb": max(0, sampler.peak - holder.rss_start) / 2**20, "mem_kind": sampler.kind}
    except CellOverTime as e:
        holder._preps.clear()
        pytest.fail(f"{e}; after {time.perf_counter() - t_cell:.0f} s", pytrace=False)
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    median_step_s = stats.median / prep.cycle if stats is not None else float("nan")
    reduction = describe_overrides(holder.reduced) or None
    peak = session_peak(holder.device, precision)
    benchmark.extra_info.update(
        variant="ganbench",
        peak_flops=peak,
        mfu=mfu(flops, median_step_s, peak),
        gan=holder.gan,
        batch_size=batch_size,
        device=holder.device,
        precision=precision,
        images_per_s=batch_size / median_step_s if median_step_s > 0 else None,
        ms_per_step=median_step_s * 1000.0,
        flops_per_step=flops,
        cycle=prep.cycle,
        rounds=rounds,
        iterations=iterations,
        warmup_rounds=warmup_rounds,
        warmup_steps_before=1,
        probe_s=probe_s,
        overrides={k: (list(v) if isinstance(v, tuple) else v) for k, v in getattr(prep, "overrides", {}).items()},
        cpu_reduction=reduction,
        full_size=reduction is None,
        **_load_info(load),
        threads=torch.get_num_threads(),
        cell_wall_s=time.perf_counter() - t_cell,
        data="fake: random batch, prepared and on the device before timing",
        **mem,
    )
    record_summary(
        f"{what}: {rounds} round(s) × {iterations} iteration(s), "
        f"{warmup_rounds} warm-up round(s) after 1 FLOP-counting warm-up step"
        + (f"; REDUCED: {reduction}" if reduction else "")
        + (
            f"; {median_step_s * 1000:.1f} ms/step, {batch_size / median_step_s:.1f} images/s"
            if median_step_s > 0
            else ""
        )
        + f"; cell {time.perf_counter() - t_cell:.1f} s"
        + (f"; DISTURBED ({'; '.join(load.reasons)}): not a clean figure" if load.disturbed else "")
    )
    return prep


def run_reference(
    benchmark, gan: str, device: str, kind: str, batch_size: int, *, budget_s: float = CPU_CELL_BUDGET_S,
    limit_s: float | None = CELL_LIMIT_S,
) -> ReferencePrepared:  # noqa: ANN001
    """Time a reference loop (``seed`` or ``minimal``) like a ganbench cell; extra_info names the variant."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    t_cell = time.perf_counter()
    what = f"{gan}-{device} bs{batch_size} fp32 {kind}"
    try:
        with cell_time_limit(limit_s, what):
            rss_start = rss_bytes()
            prep = ReferencePrepared(Cell(gan, batch_size, device, "fp32", False, None, (), kind))
            t0 = time.perf_counter()
            flops = count_flops(prep)  # one warm-up call, also gives FLOPs per step
            cuda_sync(prep.device)
            probe_s = time.perf_counter() - t0
            rounds, iterations, warmup_rounds = plan_rounds(probe_s, device, budget_s)
            target = cuda_synced(prep)
            with MemorySampler() as sampler:
                load = _pedantic(benchmark, target, prep, rounds, iterations, warmup_rounds)
    except CellOverTime as e:
        pytest.fail(f"{e}; after {time.perf_counter() - t_cell:.0f} s", pytrace=False)
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    median_step_s = stats.median / prep.cycle if stats is not None else float("nan")
    peak = session_peak(device, "fp32")
    mem = {"peak_mem_mb": max(0, sampler.peak - rss_start) / 2**20, "mem_kind": sampler.kind}
    if torch.device(device).type == "cuda":
        mem = {}
    benchmark.extra_info.update(
        variant=kind,
        gan=gan,
        batch_size=batch_size,
        device=device,
        precision="fp32",
        images_per_s=batch_size / median_step_s if median_step_s > 0 else None,
        ms_per_step=median_step_s * 1000.0,
        flops_per_step=flops,
        peak_flops=peak,
        mfu=mfu(flops, median_step_s, peak),
        cycle=prep.cycle,
        rounds=rounds,
        iterations=iterations,
        warmup_rounds=warmup_rounds,
        threads=torch.get_num_threads(),
        cell_wall_s=time.perf_counter() - t_cell,
        data=f"bench/references/{gan}_{kind}.py on a random batch on the device",
        **_load_info(load),
        **mem,
    )
    record_summary(
        (
            f"{what}: {rounds} round(s); {median_step_s * 1000:.1f} ms/step, {batch_size / median_step_s:.1f} images/s"
            if median_step_s > 0
            else f"{what}: no timing"
        )
        + (f"; DISTURBED ({'; '.join(load.reasons)}): not a clean figure" if load.disturbed else "")
    )
    return prep


@pytest.fixture
def timed_reference(benchmark, request):  # noqa: ANN001
    """``timed_reference((gan, device, kind), batch_size)`` → the reference loop, timed."""
    budget = request.config.getoption("--cpu-cell-budget")
    limit = request.config.getoption("--cell-limit")

    def go(reference: tuple[str, str, str], batch_size: int) -> ReferencePrepared:
        gan, device, kind = reference
        return run_reference(benchmark, gan, device, kind, batch_size, budget_s=budget, limit_s=limit)

    return go


def assert_trained(prep: PreparedStep) -> None:
    problems = prep.check()
    assert not problems, f"{prep.cell.key}: {'; '.join(problems)}"


@pytest.fixture
def timed_cell(benchmark, gan_on_device, request):  # noqa: ANN001
    """``timed_cell(batch_size, precision)`` → the prepared step, timed and checked."""
    budget = request.config.getoption("--cpu-cell-budget")
    limit = request.config.getoption("--cell-limit")

    def go(batch_size: int, precision: str) -> PreparedStep:
        prep = run_cell(benchmark, gan_on_device, batch_size, precision, budget_s=budget, limit_s=limit)
        assert_trained(prep)
        return prep

    return go
