"""Resume is exact with the default diagnostics on: nothing outside the training steps draws from the
training random stream. A cold and a warm feature-extractor cache, diagnostics on and off, and a run
stopped by SIGINT or SIGTERM and resumed all end with bitwise-equal weights."""

from __future__ import annotations

import os
import signal

import pytest
import torch

import diagnostics.features as features
from diagnostics.live import training_callbacks
from gans.training import TrainConfig, train
from gans.training.rundir import load_checkpoint, read_metrics

STEPS = 12


@pytest.fixture
def tiny_classifier(monkeypatch, tmp_path):
    """A one-epoch, narrow classifier extractor in an empty cache (so the first run trains it)."""
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(
        features,
        "classifier_spec_for",
        lambda n: features.ClassifierSpec(width=4, feature_dim=8, epochs=1, batch_size=128),
    )
    return tmp_path / "cache"


def _cfg(**kw) -> TrainConfig:
    base = dict(
        gan="mnist_mlp",
        dataset="digits",
        batch_size=32,
        steps=STEPS,
        device="cpu",
        seed=5,
        log_every=2,
        checkpoint_every=4,
        eval_every=6,
    )
    base.update(kw)
    return TrainConfig(**base)


def _callbacks():
    return training_callbacks(eval_samples=64, features="classifier")


def _weights(run_dir) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoint.pt")["gan"]


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _SignalAt:
    """Sends ``sig`` to this process when the loop logs ``step`` (the loop stops after that step)."""

    def __init__(self, step: int, sig: int):
        self.step, self.sig = step, sig

    def on_scalars(self, run, step, means):
        if step == self.step:
            os.kill(os.getpid(), self.sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cold_warm_off_and_resumed_runs_train_identical_weights(tmp_path, tiny_classifier, sig):
    cache = tiny_classifier
    cold = train(_cfg(), tmp_path / "cold", callbacks=_callbacks(), progress=False)
    assert cold.status == "finished" and any(cache.rglob("classifier-*.pt")), "the cold run trained the extractor"
    warm = train(_cfg(), tmp_path / "warm", callbacks=_callbacks(), progress=False)
    off = train(_cfg(), tmp_path / "off", callbacks=[], progress=False)
    assert warm.status == off.status == "finished"
    stopped = train(_cfg(), tmp_path / "cut", callbacks=[*_callbacks(), _SignalAt(6, sig)], progress=False)
    assert stopped.status == "interrupted" and stopped.step == 6
    assert stopped.exit_code == 128 + sig  # 130 for SIGINT, 143 for SIGTERM
    resumed = train(_cfg(), tmp_path / "cut", resume=True, callbacks=_callbacks(), progress=False)
    assert resumed.status == "finished" and resumed.step == STEPS
    evals = [r for r in read_metrics(tmp_path / "cold", "eval")]
    assert evals, "the default diagnostics evaluated during the run"
    ref = _weights(tmp_path / "cold")
    for name in ("warm", "off", "cut"):
        assert _equal(ref, _weights(tmp_path / name)), f"{name} run differs from the cold-cache run"
    # the resumed run's metrics have each step once
    steps = [r["step"] for r in read_metrics(tmp_path / "cut", "scalars")]
    assert steps == sorted(set(steps)) and steps[-1] == STEPS
