"""The training loop and run directory: contents, resume equality, Ctrl-C, divergence."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gans.training.loop import TrainConfig, train
from gans.training.rundir import load_checkpoint, load_run_gan, read_metrics


def _cfg(**kw) -> TrainConfig:
    base = dict(
        gan="mnist_mlp",
        dataset="digits",
        batch_size=32,
        steps=12,
        device="cpu",
        seed=7,
        log_every=3,
        checkpoint_every=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_run_directory_contents(tmp_path):
    out = tmp_path / "run"
    r = train(_cfg(sample_every=6), out, progress=False)
    assert r.status == "finished" and r.step == 12
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dataset"] == "digits" and cfg["data"]["name"] == "digits"
    assert cfg["train"]["batch_size"] == 32 and cfg["gan_config"]["lr"] == 1e-4
    assert cfg["versions"]["torch"].startswith("2.") and cfg["device"] == "cpu"
    scalars = read_metrics(out, "scalars")
    assert [s["step"] for s in scalars] == [3, 6, 9, 12]
    for s in scalars:
        for key in ("loss/d", "loss/g", "d/real", "d/fake", "d/fake_g", "grad/d", "grad/g", "time/ms_per_step"):
            assert math.isfinite(s[key]), key
        assert 0 <= s["d/real"] <= 1 and 0 <= s["d/fake"] <= 1
    events = [e["event"] for e in read_metrics(out, "event")]
    assert events[0] == "start" and events[-1] == "finished"
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_00000006.png", "step_00000012.png"]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 12 and set(ckpt["rng"]) >= {"python", "numpy", "torch"}


def test_logged_means_equal_per_step_values(tmp_path):
    """The stream's interval means are the means of what each step reported (no sync per step)."""
    from gans.training.stream import ScalarStream

    s = ScalarStream()
    seen = []
    s.subscribe(lambda step, m: seen.append((step, m)))
    for v in (1.0, 2.0, 6.0):
        s.add({"a": torch.tensor(v), "b": torch.tensor(2 * v)})
    s.add({"a": torch.tensor(3.0)})  # b not reported this step (e.g. a G phase every n steps)
    assert s.flush(4) == {"a": 3.0, "b": 6.0}
    assert seen == [(4, {"a": 3.0, "b": 6.0})] and not s.pending


def _weights(run_dir):
    gan, _ = load_run_gan(run_dir)
    return {k: v.clone() for k, v in gan.state_dict().items()}, load_checkpoint(run_dir / "checkpoint.pt")


@pytest.mark.parametrize("gan,dataset,bs", [("mnist_mlp", "digits", 32), ("dcgan", "photos", 4)])
def test_resume_equals_uninterrupted(tmp_path, gan, dataset, bs):
    """Stop after 5 steps, resume to 12: the same weights, optimiser state and RNG as 12 in one go.
    5 is not a multiple of the epoch length, so the resume lands mid-epoch."""
    steps = 12 if gan == "mnist_mlp" else 4
    full, part = tmp_path / "full", tmp_path / "part"
    train(_cfg(gan=gan, dataset=dataset, batch_size=bs, steps=steps), full, progress=False)
    train(_cfg(gan=gan, dataset=dataset, batch_size=bs, steps=steps // 2 + 1), part, progress=False)
    r = train(TrainConfig(gan=gan, steps=steps), part, resume=True, progress=False)
    assert r.status == "finished" and r.step == steps
    wa, ca = _weights(full)
    wb, cb = _weights(part)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert torch.equal(ca["rng"]["torch"], cb["rng"]["torch"])
    sa = ca["optim"]["opt_g"]["state"]
    sb = cb["optim"]["opt_g"]["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
    # the resumed run's metrics file holds both halves, in order
    steps_logged = [s["step"] for s in read_metrics(part, "scalars")]
    assert steps_logged == sorted(steps_logged) and steps_logged[-1] == steps
    assert [e["event"] for e in read_metrics(part, "event")].count("resume") == 1


class _CtrlC:
    """Raises KeyboardInterrupt at a given flush, as Ctrl-C would mid-run."""

    def __init__(self, at: int):
        self.at = at

    def on_scalars(self, run, step, means):
        if step == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_writes_a_checkpoint_and_resume_matches(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    train(_cfg(), full, progress=False)
    r = train(_cfg(), part, callbacks=[_CtrlC(6)], progress=False)
    assert r.status == "interrupted" and r.exit_code == 130
    assert load_checkpoint(part / "checkpoint.pt")["step"] == 6
    ev = read_metrics(part, "event")[-1]
    assert ev["event"] == "interrupted" and "--resume" in ev["message"]
    train(TrainConfig(gan="mnist_mlp"), part, resume=True, progress=False)
    wa, _ = _weights(full)
    wb, _ = _weights(part)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    """A run forced to NaN from step 7 on: it stops at the next flush, keeps the step-6
    checkpoint (written while everything was finite) and says so."""
    import gans.training.loop

    real_step = gans.training.loop.train_step

    def poisoned(gan, real, labels=None, *, step=0, **kw):
        return real_step(gan, real * float("nan") if step >= 6 else real, labels, step=step, **kw)

    monkeypatch.setattr(gans.training.loop, "train_step", poisoned)
    out = tmp_path / "run"
    r = train(_cfg(steps=40, log_every=3, checkpoint_every=3), out, progress=False)
    assert r.status == "diverged" and r.exit_code == 3
    assert r.step == 9  # detected at the first flush after the NaN, not later
    ev = read_metrics(out, "event")[-1]
    assert ev["event"] == "diverged" and "last good checkpoint (step 6)" in ev["message"]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 6 and ev["last_good_step"] == 6
    assert all(torch.isfinite(v).all() for v in ckpt["gan"].values() if v.is_floating_point())


def test_existing_run_is_never_overwritten(tmp_path):
    from gans.base import UserError

    out = tmp_path / "run"
    train(_cfg(steps=3), out, progress=False)
    before = (out / "metrics.jsonl").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        train(_cfg(steps=3), out, progress=False)
    assert (out / "metrics.jsonl").read_bytes() == before


def test_bf16_autocast_step_runs_on_cpu(tmp_path):
    r = train(_cfg(steps=3, precision="bf16"), tmp_path / "run", progress=False)
    assert r.status == "finished" and all(math.isfinite(v) for v in r.last.values())


def test_evaluation_does_not_change_the_training_stream(tmp_path):
    """Callbacks' evaluations run under a saved/restored RNG: same weights with or without them."""

    class Sampler:
        def on_eval(self, run, step):
            run.gan.sample(16)
            torch.randn(100)

    a, b = tmp_path / "a", tmp_path / "b"
    train(_cfg(eval_every=4), a, progress=False)
    train(_cfg(eval_every=4), b, callbacks=[Sampler()], progress=False)
    wa, _ = _weights(a)
    wb, _ = _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow  # 50,000 optimiser steps per seed (the seed's D pre-training, then 10,000 epochs)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pattern1010_reaches_the_seeds_end_state(tmp_path, seed):
    """The seed's defaults (10,000 epochs, batch 1, SGD 0.01, MSE) end with G ≈ 1010 and D ≈ 0.5."""
    out = tmp_path / "run"
    r = train(
        TrainConfig("pattern1010", device="cpu", seed=seed, log_every=500, checkpoint_every=0), out, progress=False
    )
    assert r.step == 10000
    gan, _ = load_run_gan(out)
    with torch.no_grad():
        g = gan.generate(gan.latent(1))[0]
        d = gan.d_prob(g[None])[0]
    assert g[0] >= 0.8 and g[2] >= 0.8, g
    assert g[1] <= 0.2 and g[3] <= 0.2, g
    assert abs(float(d) - 0.5) <= 0.05
    assert r.last["loss/g"] == pytest.approx(0.25, abs=0.02)


def test_a_finished_run_leaves_no_model_alive(tmp_path):
    """train() returns with nothing of the run still referenced: the process-wide distributed context's budget check
    closed over the loop, and so kept the last run's GAN and optimisers (1.3 GB for celeba_mlp) alive."""
    import gc
    import weakref

    from gans.models.core import GAN

    made: list[weakref.ref] = []
    original = GAN.__init__

    def tracked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    GAN.__init__ = tracked
    try:
        train(
            TrainConfig("pattern1010", device="cpu", steps=3, log_every=1, checkpoint_every=0),
            tmp_path / "run",
            progress=False,
        )
    finally:
        GAN.__init__ = original
    gc.collect()
    assert made, "the run built no GAN through GAN.__init__"
    assert [ref() for ref in made if ref() is not None] == []
