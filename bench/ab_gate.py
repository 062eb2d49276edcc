"""``ganbench regress --against REV``: the change against its base, timed in one sitting.

A stored baseline was recorded on another day, in another state of the machine; measured on an
unchanged tree, GANs sat at fixed offsets of up to ±23 % from it, so it cannot see a 10 %
regression. This gate times the base and the head side by side instead:

* The base is ``REV`` checked out into a temporary ``git worktree`` (detached); the head is the
  repository's working tree (the folder ``git rev-parse --show-toplevel`` names from the current
  directory). The worktree and its temporary folder are removed whatever happens: on success, on
  an error, on Ctrl-C (SIGINT) and on SIGTERM; a worktree left by a killed run is pruned by the
  next one.
* Each side runs in its own Python process (:mod:`bench.ab_child`, copied out of the head's tree
  so that the base needs no new code) started with the working directory and ``PYTHONPATH`` set
  to that side's tree: the base imports its own ``gans`` and ``bench``, not the installed head.
  Both use the same GAN settings (:func:`bench.regress.gan_settings`), device and threads
  (1 on the CPU by default), with ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` set to match.
* The two processes are driven in interleaved rounds, one side at a time (the other waits on a
  pipe, idle): for every GAN, round r times a block of samples on the base then the head when r
  is even, the head then the base when r is odd (A B B A …), so slow drifts of the machine fall on
  both sides alike. Each block's number is its fastest sample (ms per step); both sides time
  blocks of the same length, chosen from a probe so a block takes about ``block_s`` seconds.
* The clock (``clock``): on the CPU with one thread (the default) every op of the step runs on the
  process's main thread, so the gate reads that thread's **CPU time** (``time.thread_time``): time the
  process spends waiting for a core while other jobs run is not in it. On a 2-core VM at load
  average 9 the same mnist_mlp step read 20–32 ms wall-clock and 7.1–7.7 ms CPU time. With several
  threads, or on CUDA, it reads wall-clock time (``perf_counter``; CUDA synchronised per sample).
  A change that makes the step *wait* (a sleep, I/O) is therefore invisible to the CPU clock; pass
  ``clock="wall"`` (``--clock wall``) to time it.
* Per GAN the gate reads the per-round log ratios head ÷ base: the estimate is their 20 %
  trimmed mean (one disturbed block moves it little), the interval a percentile bootstrap over
  rounds (``confidence``, default 95 %, two-sided; seeded, so the same times give the same
  interval). A GAN is **slower** only when the interval's lower end is above ``1 + threshold``
  (default 5 %): noise alone must push the whole interval past the threshold to fail the gate.
  An interval wider than the threshold on either side is reported as ``inconclusive`` (too noisy
  to tell; not a failure). A GAN the base cannot build (a new family) is ``new``, not a failure;
  one the head cannot build is an error.

The repository must be git (else exit 2), ``REV`` must name a commit (exit 2), and the working
tree must have no uncommitted changes to tracked files unless ``allow_dirty`` (exit 2): the
head is then the tree as it is, not a commit. ``GANBENCH_INJECT_SLOWDOWN`` is removed from the
children's environment (that test hook sleeps; planted regressions here are real compute, see
:mod:`bench.gate_power` and tests/test_regress_against.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from gans.base import UserError

__all__ = [
    "DEFAULT_AB_THRESHOLD",
    "DEFAULT_AB_ROUNDS",
    "MIN_ROUNDS",
    "repo_root",
    "check_repo",
    "side_spec",
    "resolve_rev",
    "dirty_files",
    "base_worktree",
    "ratio_interval",
    "verdict",
    "run_ab",
    "format_ab",
]

DEFAULT_AB_THRESHOLD = 0.05
DEFAULT_AB_ROUNDS = 12
MIN_ROUNDS = 4  # the bootstrap needs a few rounds to say anything
CHILD = Path(__file__).with_name("ab_child.py")
WORKTREE_PREFIX = "ganbench-ab-"


# -- git --------------------------------------------------------------------------------------------


def _git(repo: str | Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise UserError("--against needs git, and no `git` command was found") from None


def repo_root(cwd: str | Path | None = None) -> Path:
    """The top folder of the git working tree holding ``cwd``; a :class:`UserError` outside git."""
    where = Path(cwd or os.getcwd())
    r = _git(where, "rev-parse", "--show-toplevel")
    if r.returncode != 0 or not r.stdout.strip():
        raise UserError(f"--against: {where} is not inside a git repository (the head is a git working tree)")
    return Path(r.stdout.strip())


def resolve_rev(repo: Path, rev: str) -> str:
    """The full commit id ``rev`` names in ``repo``; a :class:`UserError` when it names none."""
    if not rev or rev.startswith("-"):
        raise UserError(f"--against {rev!r}: not a git revision")
    r = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if r.returncode != 0 or not r.stdout.strip():
        raise UserError(f"--against {rev}: no such commit in {repo} (try a branch, a tag, HEAD~1 or a commit id)")
    return r.stdout.strip()


def dirty_files(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes (staged or not); untracked files do not count."""
    r = _git(repo, "status", "--porcelain", "--untracked-files=no")
    if r.returncode != 0:
        raise UserError(f"--against: git status failed in {repo}: {(r.stderr.strip() or '?').splitlines()[0]}")
    return [line[3:] for line in r.stdout.splitlines() if line.strip()]


def check_repo(against: str, *, allow_dirty: bool = False, cwd: str | Path | None = None) -> tuple[Path, str]:
    """(repository root, commit id of ``against``) after the checks that refuse with one line: not git, a
    revision that names no commit, uncommitted changes to tracked files (unless ``allow_dirty``)."""
    repo = repo_root(cwd)
    sha = resolve_rev(repo, against)
    if not allow_dirty:
        dirty = dirty_files(repo)
        if dirty:
            more = f" and {len(dirty) - 3} more" if len(dirty) > 3 else ""
            raise UserError(
                f"--against: {repo} has uncommitted changes ({', '.join(dirty[:3])}{more}); commit them, or pass "
                "--allow-dirty to time the tree as it is"
            )
    return repo, sha


def _remove_worktree(repo: Path, path: Path) -> None:
    _git(repo, "worktree", "remove", "--force", str(path))
    shutil.rmtree(path, ignore_errors=True)
    _git(repo, "worktree", "prune")


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) (so ``finally`` blocks run); restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while cleaning up (a second Ctrl-C must not leave a worktree behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def base_worktree(repo: Path, sha: str) -> Iterator[Path]:
    """``sha`` checked out (detached) in a temporary worktree of ``repo``; removed on the way out."""
    _git(repo, "worktree", "prune")  # entries of earlier runs that were killed outright
    tmp = Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX))
    path = tmp / "base"
    try:
        r = _git(repo, "worktree", "add", "--detach", "--quiet", str(path), sha)
        if r.returncode != 0:
            raise RuntimeError(f"git worktree add failed: {r.stderr.strip()}")
        yield path
    finally:
        with _no_interrupts():
            _remove_worktree(repo, path)
            shutil.rmtree(tmp, ignore_errors=True)


# -- one side's timing process -----------------------------------------------------------------------


class Side:
    """A :mod:`bench.ab_child` process for one tree."""

    def __init__(self, name: str, tree: Path, script: Path, *, threads: int | None, log_dir: Path):
        self.name, self.tree = name, tree
        env = {k: v for k, v in os.environ.items() if k != "GANBENCH_INJECT_SLOWDOWN"}
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        self.stderr_path = log_dir / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(script)],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the parent only; the parent ends the children
        )

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise RuntimeError(self._died()) from None

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@ab "):
                return json.loads(line[4:])
        raise RuntimeError(self._died())

    def ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.send(msg)
        return self.receive()

    def _died(self) -> str:
        self.proc.poll()
        self._stderr.flush()
        tail = self.stderr_path.read_bytes()[-2000:].decode("utf-8", "replace").strip().splitlines()
        last = tail[-1] if tail else "no output"
        return f"the {self.name} side's timing process ended (exit {self.proc.returncode}): {last}"

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.send({"op": "quit"})
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self._stderr):
            with contextlib.suppress(Exception):
                f.close()


# -- statistics --------------------------------------------------------------------------------------


def ratio_interval(
    base_ms: Sequence[float], head_ms: Sequence[float], *, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(estimate, low, high) of head ÷ base from paired per-round times.

    The estimate is exp of the 20 % trimmed mean of the per-round log ratios; the interval a
    percentile bootstrap of that statistic over rounds (4,000 resamples, seeded).
    """
    import numpy as np
    from scipy import stats

    d = np.log(np.asarray(head_ms, dtype=float)) - np.log(np.asarray(base_ms, dtype=float))
    if len(d) < 2:
        raise ValueError("ratio_interval needs at least two rounds")

    def stat(x: Any, axis: int = -1) -> Any:
        return stats.trim_mean(x, 0.2, axis=axis)

    est = float(stat(d))
    if float(np.ptp(d)) == 0.0:  # every round agrees exactly: the bootstrap has nothing to resample
        return math.exp(est), math.exp(est), math.exp(est)
    res = stats.bootstrap(
        (d,),
        stat,
        confidence_level=confidence,
        n_resamples=4000,
        method="percentile",
        random_state=np.random.default_rng(seed),
        vectorized=True,
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return math.exp(est), math.exp(lo), math.exp(hi)


def verdict(ratio: float, low: float, high: float, threshold: float) -> str:
    """``slower`` (the gate fails) only when the whole interval is above ``1 + threshold``."""
    if low > 1.0 + threshold:
        return "slower"
    if high < 1.0 / (1.0 + threshold):
        return "faster"
    if high - low > 2 * threshold:
        return "inconclusive"
    return "ok"


# -- the gate ----------------------------------------------------------------------------------------


def side_spec(gan: str, repo: Path) -> str:
    """What each side's process is told for ``gan``: a file spec (``PATH.py:CLASS``, absolute once loaded) inside
    the repository becomes relative to the tree, so that each side loads its own version of the file; registered
    names, module specs (imported through the side's ``PYTHONPATH``) and files outside the repository as given."""
    target, sep, attr = gan.rpartition(":")
    if sep and target.endswith(".py"):
        path = Path(target).resolve()
        if path.is_relative_to(repo.resolve()):
            return f"{path.relative_to(repo.resolve()).as_posix()}:{attr}"
    return gan


def run_ab(
    against: str,
    *,
    gans: Sequence[str],
    settings: dict[str, dict[str, Any]],
    rounds: int = DEFAULT_AB_ROUNDS,
    threshold: float = DEFAULT_AB_THRESHOLD,
    confidence: float = 0.95,
    device: str = "cpu",
    threads: int | None = 1,
    allow_dirty: bool = False,
    block_s: float = 0.2,
    clock: str = "auto",
    cwd: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[int, list[dict[str, Any]]]:
    """Time head against ``against`` per GAN; (exit code, rows). 0 passed, 1 a GAN is slower.

    ``settings`` gives each GAN's ``batch_size`` and ``overrides`` (the same on both sides).
    Mistakes (not git, an unknown revision, a dirty tree) raise :class:`UserError` before anything
    starts.
    """
    if rounds < MIN_ROUNDS:
        raise UserError(f"--rounds must be at least {MIN_ROUNDS} with --against (the interval is over rounds)")
    if not 0 < threshold < 1:
        raise UserError("--threshold is a fraction, e.g. 0.05 for 5 %")
    if clock not in ("auto", "cpu", "wall"):
        raise UserError(f"--clock {clock!r}: auto, cpu or wall")
    if clock == "auto":
        clock = "cpu" if device == "cpu" and threads == 1 else "wall"
    elif clock == "cpu" and not (device == "cpu" and threads == 1):
        raise UserError("--clock cpu reads one thread's CPU time: it needs --device cpu and --threads 1")
    repo, sha = check_repo(against, allow_dirty=allow_dirty, cwd=cwd)
    head_sha = _git(repo, "rev-parse", "HEAD").stdout.strip() or "(no commit)"
    log(
        f"ganbench regress --against {against} ({sha[:12]}) in {repo}: head {head_sha[:12]}"
        f"{' + uncommitted changes' if allow_dirty and dirty_files(repo) else ''}; {device}, "
        f"{threads or 'default'} thread(s), {clock} clock, {rounds} rounds A B B A, threshold {threshold:.0%}: "
        f"{', '.join(gans)}"
    )
    t_start = time.perf_counter()
    with _signals_as_exceptions(), base_worktree(repo, sha) as base_tree:
        tmp = base_tree.parent
        script = tmp / "ab_child.py"
        shutil.copyfile(CHILD, script)
        sides: dict[str, Side] = {}
        try:
            for name, tree in (("base", base_tree), ("head", repo)):
                sides[name] = Side(name, tree, script, threads=threads, log_dir=tmp)
            msg = {
                "op": "prepare",
                "device": device,
                "threads": threads,
                "gans": {side_spec(g, repo): {"batch_size": settings[g]["batch_size"],
                                              "overrides": settings[g].get("overrides") or {}} for g in gans},
            }
            for s in sides.values():  # both build and warm up at once
                s.send(msg)
            ready = {name: s.receive() for name, s in sides.items()}
            log(f"  both sides built and warmed up in {time.perf_counter() - t_start:.1f} s")
            specs = {g: side_spec(g, repo) for g in gans}
            rows = _measure(sides, ready, gans, specs, settings, rounds, block_s, threshold, confidence, clock, log)
            for name, s in sides.items():
                for spec, problem in s.ask({"op": "check"})["problems"].items():
                    for r in rows:
                        if specs[r["gan"]] == spec and r["verdict"] not in ("error",):
                            r["verdict"], r["note"] = "error", f"{name}: {problem}"
        finally:
            for s in sides.values():
                s.close()
    for r in rows:
        r["against"] = sha
        r["head"] = head_sha
    log(format_ab(rows, threshold, confidence))
    failed = [r["gan"] for r in rows if r["verdict"] in ("slower", "error")]
    log(f"({time.perf_counter() - t_start:.0f} s)")
    if failed:
        log(f"REGRESSION: {', '.join(failed)} slower than {against} beyond {threshold:.0%} (or failed to run)")
        return 1, rows
    log(f"regression gate passed against {against}")
    return 0, rows


def _measure(
    sides: dict[str, Side],
    ready: dict[str, dict[str, Any]],
    gans: Sequence[str],
    specs: dict[str, str],
    settings: dict[str, dict[str, Any]],
    rounds: int,
    block_s: float,
    threshold: float,
    confidence: float,
    clock: str,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    timed: list[str] = []
    steps: dict[str, int] = {}
    for g in gans:
        row: dict[str, Any] = {"gan": g, "batch_size": int(settings[g]["batch_size"])}
        if settings[g].get("overrides"):
            row["overrides"] = settings[g]["overrides"]
        rows[g] = row
        sp = specs[g]
        head_err, base_err = ready["head"]["errors"].get(sp), ready["base"]["errors"].get(sp)
        if head_err:
            row.update(verdict="error", note=f"head: {head_err}")
        elif base_err:
            row.update(verdict="new", note=f"the base cannot run it ({base_err})")
        else:
            # a sequential probe (the warm-up ran on both sides at once): 3 samples each, the slower side's fastest
            probe = max(min(sides[s].ask({"op": "time", "gan": sp, "n": 3})["ms"]) for s in ("base", "head"))
            cycle = ready["head"]["ok"][sp]["cycle"]
            steps[g] = max(1, min(50, math.ceil(block_s * 1000.0 / max(probe * cycle, 1e-3))))
            timed.append(g)
            log(f"  {g}: batch {row['batch_size']}, {steps[g]} samples of {cycle} step(s) per block, "
                f"probe {probe:.2f} ms/step")
    times: dict[str, dict[str, list[float]]] = {g: {"base": [], "head": []} for g in timed}
    for r in range(rounds):
        order = ("base", "head") if r % 2 == 0 else ("head", "base")
        k = r % len(timed) if timed else 0
        for g in timed[k:] + timed[:k]:
            for side in order:
                reply = sides[side].ask({"op": "time", "gan": specs[g], "n": steps[g]})
                times[g][side].append(min(reply["cpu_ms"] if clock == "cpu" else reply["ms"]))
    for g in timed:
        b, h = times[g]["base"], times[g]["head"]
        ratio, lo, hi = ratio_interval(b, h, confidence=confidence)
        rows[g].update(
            base_ms=_median(b),
            head_ms=_median(h),
            ratio=ratio,
            change=ratio - 1.0,
            ci_low=lo,
            ci_high=hi,
            confidence=confidence,
            rounds=len(b),
            clock=clock,
            samples_per_block=steps[g],
            base_ms_rounds=[round(x, 5) for x in b],
            head_ms_rounds=[round(x, 5) for x in h],
            verdict=verdict(ratio, lo, hi, threshold),
        )
    return [rows[g] for g in gans]


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def format_ab(rows: Sequence[dict[str, Any]], threshold: float, confidence: float = 0.95) -> str:
    head = (
        f"{'GAN':<13} {'batch':>5} {'base ms':>9} {'head ms':>9} {'head÷base':>9} "
        f"{f'{confidence:.0%} interval':>17}  verdict"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "ratio" not in r:
            lines.append(f"{r['gan']:<13} {r['batch_size']:>5} {'–':>9} {'–':>9} {'–':>9} {'–':>17}  "
                         f"{r['verdict']}: {r.get('note', '')}")
            continue
        v = r["verdict"].upper() if r["verdict"] in ("slower", "error") else r["verdict"]
        interval = f"{r['ci_low']:.3f} – {r['ci_high']:.3f}"
        if r.get("note"):
            v += f": {r['note']}"
        lines.append(
            f"{r['gan']:<13} {r['batch_size']:>5} {r['base_ms']:>9.3f} {r['head_ms']:>9.3f} {r['ratio']:>9.3f} "
            f"{interval:>17}  {v}"
        )
    lines.append(
        f"head÷base: per-round step-time ratio (trimmed mean over rounds, bootstrap interval); a GAN fails only when "
        f"the whole interval is above {1 + threshold:.2f} ({threshold:.0%} slower)."
    )
    return "\n".join(lines)
