"""DDP training on the CPU (gloo, 2 processes under torchrun): equivalence with one process at the
global batch, one run directory with rank-averaged metrics, coordinated stop and divergence,
bit-for-bit resume, and a 2-"node" rendezvous on localhost.

The world-2 side runs once per session (``tests/helpers/ddp_worker.py`` under torchrun); the
single-process references run here, fed the same samples and the same per-rank z.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gans.data import DataOptions, load_data
from gans.models import build_gan, train_step
from gans.training import load_checkpoint, read_metrics, seed_everything
from gans.training.distributed import rank_seed, split_sync_bn
from tests.helpers import ddp_worker

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _torchrun(*args: str, logs: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--log-dir", str(logs), *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(proc: subprocess.Popen, timeout: float = 600) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"torchrun hung:\n{out[-4000:]}")
    return out


@pytest.fixture(scope="module")
def world2(tmp_path_factory) -> Path:
    """Every world-2 job of the worker, run once."""
    work = tmp_path_factory.mktemp("ddp")
    args = ["--standalone", "--nproc-per-node", str(WORLD), "tests/helpers/ddp_worker.py", str(work), "all"]
    proc = _torchrun(*args, logs=work / "logs")
    out = _wait(proc)
    if proc.returncode != 0:
        pytest.fail(f"torchrun exited {proc.returncode}:\n{out[-6000:]}")
    return work


def _rank(work: Path, name: str, rank: int) -> dict:
    return json.loads((work / f"{name}.rank{rank}.json").read_text())


def _split_draws(gens: list[torch.Generator]):
    """torch.randn / torch.rand whose global-batch draws are the ranks' draws, concatenated."""

    def wrap(orig):
        def draw(*size, generator=None, **kw):
            if generator is not None:
                return orig(*size, generator=generator, **kw)
            shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
            per = shape[0] // len(gens)
            return torch.cat([orig((per, *shape[1:]), generator=g, **kw) for g in gens])

        return draw

    return wrap


def _reference(name: str, gan_name: str, dataset: str, batch: int, extra: list[str], monkeypatch) -> dict:
    """One process at the global batch, fed the ranks' samples and z: the final state dict."""
    overrides = dict(extra[i + 1].split("=", 1) for i in range(0, len(extra), 2))
    overrides, _ = split_sync_bn(overrides)
    dtype = torch.get_default_dtype()
    if name in ddp_worker.FLOAT64:
        torch.set_default_dtype(torch.float64)
    seed_everything(ddp_worker.SEED)
    gan = build_gan(gan_name, overrides)
    data = load_data(dataset, gan.data_shape, options=DataOptions(seed=ddp_worker.SEED))
    gens = [torch.Generator().manual_seed(rank_seed(ddp_worker.SEED, r)) for r in range(WORLD)]
    wrap = _split_draws(gens)
    monkeypatch.setattr(torch, "randn", wrap(torch.randn))
    monkeypatch.setattr(torch, "rand", wrap(torch.rand))
    spe, step = data.steps_per_epoch(batch), 0
    try:
        while step < ddp_worker.STEPS:
            epoch, skip = divmod(step, spe)
            for x, y in data.epoch(batch, epoch, device=torch.device("cpu"), skip=skip):
                train_step(gan, gan.prepare(x), y, step=step)
                step += 1
                if step >= ddp_worker.STEPS:
                    break
    finally:
        monkeypatch.undo()
        torch.set_default_dtype(dtype)
    return gan.state_dict()


def _assert_close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            diff = (a[k].float() - b[k].float()).abs().max().item()
            assert diff <= atol, f"{k}: max |diff| {diff:.3g} > {atol}"
        else:
            assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("spec", ddp_worker.EQUIVALENCE[:3], ids=[s[0] for s in ddp_worker.EQUIVALENCE[:3]])
def test_world2_matches_one_process_at_the_global_batch(world2, spec, monkeypatch):
    name, gan_name, dataset, batch, extra = spec
    dist_state = load_checkpoint(world2 / "runs" / name / "checkpoint.pt")["gan"]
    ref = _reference(name, gan_name, dataset, batch, extra, monkeypatch)
    start = build_gan(gan_name, split_sync_bn(dict(extra[i + 1].split("=", 1) for i in range(0, len(extra), 2)))[0])
    moved = max((ref[k].float() - v.float()).abs().max().item() for k, v in start.state_dict().items() if k in ref)
    assert moved > 1e-4  # the 20 steps trained: the comparison below is not between two untouched inits
    _assert_close(dist_state, ref, atol=1e-5)
    # each rank trained on B/2 samples per step and ended with the same weights
    r0, r1 = (torch.load(world2 / f"{name}.rank{r}.pt", weights_only=True) for r in range(WORLD))
    assert all(s["batch"] == batch // WORLD for s in _rank(world2, name, 0)["steps"])
    _assert_close(r0, r1, atol=0.0)


def test_weight_clipping_stays_identical_on_every_rank(world2):
    r0, r1 = (torch.load(world2 / f"wgan.rank{r}.pt", weights_only=True) for r in range(WORLD))
    _assert_close(r0, r1, atol=0.0)
    d = [v for k, v in r0.items() if k.startswith("D.")]
    assert max(t.abs().max().item() for t in d) <= 0.01 + 1e-7


def test_one_run_directory_with_rank_averaged_metrics(world2):
    runs = sorted(p.name for p in (world2 / "runs").iterdir())
    assert runs == ["dcgan", "diverged", "mnist_mlp", "resumed", "wgan", "wgan_gp"]
    run = world2 / "runs" / "mnist_mlp"
    config = json.loads((run / "config.json").read_text())
    assert config["distributed"]["world_size"] == WORLD and config["distributed"]["per_rank_batch_size"] == 16
    steps = [_rank(world2, "mnist_mlp", r)["steps"] for r in range(WORLD)]
    logged = read_metrics(run, "scalars")
    assert [r["step"] for r in logged] == [5, 10, 15, 20]
    for rec in logged:
        window = [i for i, s in enumerate(steps[0]) if rec["step"] - 5 <= s["step"] < rec["step"]]
        for key in ("loss/d", "loss/g", "d/real", "d/fake", "grad/d"):
            # grad norms are computed on the flushed step only: average over the steps that reported the key
            have = [i for i in window if key in steps[0][i]]
            expected = sum(steps[r][i][key] for r in range(WORLD) for i in have) / (WORLD * len(have))
            assert rec[key] == pytest.approx(expected, rel=1e-5, abs=1e-6), key
        # the ranks really differ (per-rank data and z), so the average is not one rank's value
    assert steps[0][0]["d/real"] != steps[1][0]["d/real"]


def test_signal_on_one_rank_stops_all_and_resume_is_bit_for_bit(world2):
    assert [_rank(world2, "interrupted", r)["code"] for r in range(WORLD)] == [130, 130]
    # rank 1 was signalled after step 6; both stopped at the shared flush of step 10
    assert [len(_rank(world2, "interrupted", r)["steps"]) for r in range(WORLD)] == [10, 10]
    assert [_rank(world2, "resumed", r)["code"] for r in range(WORLD)] == [0, 0]
    events = [e["event"] for e in read_metrics(world2 / "runs" / "resumed", "event")]
    assert events == ["start", "interrupted", "resume", "finished"]
    resumed = load_checkpoint(world2 / "runs" / "resumed" / "checkpoint.pt")["gan"]
    whole = load_checkpoint(world2 / "runs" / "mnist_mlp" / "checkpoint.pt")["gan"]
    _assert_close(resumed, whole, atol=0.0)


def test_non_finite_loss_on_one_rank_stops_every_rank(world2):
    assert [_rank(world2, "diverged", r)["code"] for r in range(WORLD)] == [3, 3]
    assert [len(_rank(world2, "diverged", r)["steps"]) for r in range(WORLD)] == [10, 10]
    assert [e["event"] for e in read_metrics(world2 / "runs" / "diverged", "event")][-1] == "diverged"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two torchrun launches, about 16 s
def test_two_node_rendezvous_on_localhost(tmp_path):
    endpoint = f"127.0.0.1:{_free_port()}"
    args = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint]
    args += ["--rdzv-id", "ganbench-test", "tests/helpers/ddp_worker.py", str(tmp_path), "nodes"]
    procs = [_torchrun(*args, logs=tmp_path / f"logs{i}") for i in range(2)]
    outs = [_wait(p) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outs)
    assert [_rank(tmp_path, "nodes", r)["code"] for r in range(WORLD)] == [0, 0]
    assert read_metrics(tmp_path / "runs" / "nodes", "event")[-1]["event"] == "finished"


def test_batch_the_world_does_not_divide_is_exit_2(tmp_path, monkeypatch, capsys):
    """Checked before the process group is joined, so one process with WORLD_SIZE=2 shows it."""
    from ganbench.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["train", "mnist_mlp", "--dataset", "digits", "--batch-size", "33", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("ganbench: error: --batch-size 33 is the global batch") and "multiple of 2" in err[0]
    assert not (tmp_path / "r").exists()


def test_resume_at_another_world_size_says_so(world2, tmp_path):
    """A world-2 checkpoint continued by one process: same data order, a note in metrics.jsonl."""
    import shutil

    from gans.training import TrainConfig, train

    run = tmp_path / "run"
    shutil.copytree(world2 / "runs" / "mnist_mlp", run)
    result = train(TrainConfig(gan="mnist_mlp", steps=25), run, resume=True, progress=False)
    assert result.status == "finished" and result.step == 25
    notes = [e for e in read_metrics(run, "event") if e["event"] == "world_size_changed"]
    assert len(notes) == 1 and notes[0]["world_size"] == 1 and notes[0]["saved_world_size"] == WORLD
    assert "bit for bit" in notes[0]["message"]


def test_sync_bn_by_default_for_batchnorm_families_and_off_on_request():
    from torch import nn

    from gans.training.distributed import DistContext, GlobalBatchNorm

    gan = DistContext(world=2).prepare_gan(build_gan("dcgan", {"ngf": 8, "ndf": 8}))
    kinds = {type(m) for m in gan.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert kinds == {GlobalBatchNorm}
    overrides, sync = split_sync_bn({"sync_bn": "false", "ngf": "8"})
    assert overrides == {"ngf": "8"} and sync is False
    off = DistContext(world=2, sync_bn=sync).prepare_gan(build_gan("dcgan", {"ngf": 8, "ndf": 8}))
    assert {type(m) for m in off.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)} == {nn.BatchNorm2d}
    with pytest.raises(Exception, match="true or false"):
        split_sync_bn({"sync_bn": "maybe"})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_uses_torch_syncbatchnorm():
    from torch import nn

    from gans.training.distributed import DistContext

    gan = DistContext(world=2).prepare_gan(build_gan("dcgan", {"ngf": 8, "ndf": 8}, device="cuda"))
    assert any(type(m) is nn.SyncBatchNorm for m in gan.modules())


def test_nproc_shortcut_passes_the_rest_to_torchrun():
    from ganbench.launch import launch_train, strip_nproc
    from gans.base import UserError

    assert strip_nproc(["train", "dcgan", "--nproc", "2", "--steps", "3", "--nproc=4"]) == [
        "train",
        "dcgan",
        "--steps",
        "3",
    ]
    with pytest.raises(UserError):
        launch_train(0, ["train", "dcgan"])


def test_nproc_trains_and_leaves_nothing_in_the_temp_folder(tmp_path):
    """``ganbench train --nproc 2`` end to end; torchrun's log folder goes too (it would stay by default)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(_env(), TMPDIR=str(temp))
    args = "-m ganbench train mnist_mlp --dataset digits --steps 4 --batch-size 8 --nproc 2 --out".split()
    cmd = [sys.executable, *args, str(tmp_path / "r")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert read_metrics(tmp_path / "r", "event")[-1]["event"] == "finished"
    # torch's compile cache (torchinductor_<user>) may be there: one shared cache, not a folder per launch
    left = [p.name for p in temp.iterdir() if p.name.startswith(("torchelastic_", "ganbench-torchrun-"))]
    assert left == []


def test_nproc_with_a_batch_it_does_not_divide_is_exit_2_before_launching(tmp_path, capsys):
    from ganbench.cli import main

    code = main(["train", "mnist_mlp", "--nproc", "2", "--batch-size", "15", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "multiple of 2" in err[0]
    assert not (tmp_path / "r").exists()
