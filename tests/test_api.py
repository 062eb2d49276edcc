"""The Python API for your own training loop: EquilibriumMonitor and evaluate, on known answers, and the same
verdicts as the command line on the same inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import ganbench
from ganbench import EquilibriumMonitor, UserError


def _feed(monitor: EquilibriumMonitor, steps: int, fn) -> None:
    for i in range(steps):
        monitor.update(**fn(i))


def _noisy(value: float, i: int, scale: float = 0.02) -> torch.Tensor:
    g = torch.Generator().manual_seed(i)
    return (value + scale * torch.randn(16, generator=g)).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# EquilibriumMonitor: known streams


def test_balanced_stream_reads_balanced_from_the_first_window():
    m = EquilibriumMonitor(log_every=10)
    _feed(m, 100, lambda i: {"d_real": _noisy(0.52, i), "d_fake": _noisy(0.49, 1000 + i)})
    v = m.verdict()
    assert v.state == "balanced" and v.since_step == 10
    assert v.numbers["d_real"] == pytest.approx(0.52, abs=0.01) and "Balanced since step 10" in v.message


def test_verdict_needs_five_logs():
    m = EquilibriumMonitor(log_every=10)
    _feed(m, 49, lambda i: {"d_real": 0.5, "d_fake": 0.5})
    assert m.verdict().state == "undecided" and m.logs == 4
    m.update(d_real=0.5, d_fake=0.5)
    assert m.verdict().state == "balanced" and m.logs == 5


def test_d_dominating_stream():
    m = EquilibriumMonitor(log_every=5)
    _feed(m, 50, lambda i: {"d_real": _noisy(0.95, i), "d_fake": _noisy(0.04, 99 + i)})
    v = m.verdict()
    assert v.state == "d_dominates" and v.since_step == 5 and "D dominates" in v.message


def test_g_dominating_stream():
    m = EquilibriumMonitor(log_every=5)
    _feed(m, 50, lambda i: {"d_real": 0.3, "d_fake": 0.7})
    assert m.verdict().state == "g_dominates"


def test_diverging_stream_is_diverged_at_once_from_its_step():
    m = EquilibriumMonitor(log_every=10)
    _feed(m, 100, lambda i: {"d_real": 0.5, "d_fake": 0.5})
    assert m.verdict().state == "balanced"
    _feed(m, 10, lambda i: {"d_real": float("nan") if i == 3 else 0.5, "d_fake": 0.5})
    v = m.verdict()
    assert v.state == "diverged" and v.since_step == 110 and "non-finite" in v.message


def test_oscillating_stream():
    m = EquilibriumMonitor(log_every=5)
    # D's outputs swing every interval: real 0.8/0.2, fake the other way round
    _feed(m, 100, lambda i: {"d_real": 0.8 if (i // 5) % 2 else 0.2, "d_fake": 0.2 if (i // 5) % 2 else 0.8})
    assert m.verdict().state == "oscillating"


def test_logits_and_critic_scores():
    m = EquilibriumMonitor(log_every=5, logits=True)
    _feed(m, 50, lambda i: {"d_real": torch.full((8,), 3.0), "d_fake": torch.full((8,), -3.0)})
    v = m.verdict()
    assert v.state == "d_dominates" and v.numbers["d_real"] == pytest.approx(1 / (1 + math.exp(-3)), rel=1e-6)
    c = EquilibriumMonitor("critic", log_every=5)
    _feed(c, 50, lambda i: {"d_real": 0.01, "d_fake": -0.01})  # a small, stable gap: a balanced critic
    assert c.verdict().state == "balanced"
    c = EquilibriumMonitor("critic", log_every=5)
    _feed(c, 50, lambda i: {"d_real": 1e4, "d_fake": -1e4})
    assert c.verdict().state == "d_dominates"


def test_flush_takes_the_last_partial_interval():
    m = EquilibriumMonitor(log_every=50)
    _feed(m, 220, lambda i: {"d_real": 0.5, "d_fake": 0.5})
    assert m.logs == 4 and m.verdict().state == "undecided"
    assert m.flush().state == "balanced" and m.logs == 5 and m.step == 220


def test_update_never_reads_a_tensor_back(monkeypatch):
    """Per step nothing is read from the device: .item(), .tolist(), float() and .cpu() are counted, and they
    happen only at the flush, once per interval."""
    calls: list[str] = []
    for name in ("item", "tolist", "cpu", "__float__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _name=name, _original=original, **k):
            calls.append(_name)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    m = EquilibriumMonitor(log_every=10)
    for _ in range(9):
        m.update(d_real=torch.rand(32), d_fake=torch.rand(32), loss_d=torch.tensor(0.7))
    assert calls == []
    m.update(d_real=torch.rand(32), d_fake=torch.rand(32), loss_d=torch.tensor(0.7))
    assert calls.count("cpu") == 1 and "item" not in calls and "__float__" not in calls


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "wasserstein"}, "kind must be"),
        ({"log_every": 0}, "log_every must be"),
        ({"loss": "hinge"}, "loss must be"),
        ({"kind": "critic", "logits": True}, "logits=True is for a probability D"),
    ],
)
def test_monitor_mistakes_are_user_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        EquilibriumMonitor(**kwargs)
    m = EquilibriumMonitor()
    with pytest.raises(UserError, match="needs d_real and d_fake"):
        m.update()
    with pytest.raises(UserError, match="must be a tensor"):
        m.update(d_real="0.5", d_fake=0.5)


def test_monitor_gives_the_cli_verdicts_on_the_same_stream(tmp_path, capsys):
    """Train with the CLI (in-process, through its ``main``), logging every step; feed the monitor the same per-step
    D outputs and losses: its verdict spans are the verdict events the CLI wrote, and its final verdict is
    verdicts.json's."""
    from ganbench.cli import main

    run = tmp_path / "run"
    rc = main(["train", "mnist_mlp", "--dataset", "digits", "--steps", "150", "--log-every", "1", "--eval-samples",
               "200", "--out", str(run), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    events = [
        (e["verdict"], e["since_step"]) for e in records if e.get("type") == "event" and e.get("kind") == "equilibrium"
    ]
    scalars = [e for e in records if e.get("type") == "scalars"]
    assert len(scalars) == 150 and events
    m = EquilibriumMonitor(log_every=1)
    for rec in scalars:
        m.update(d_real=rec["d/real"], d_fake=rec["d/fake"], loss_d=rec["loss/d"], loss_g=rec["loss/g"])
    assert [(v.state, v.since_step) for v in m.history] == events
    final = json.loads((run / "verdicts.json").read_text())["equilibrium"]
    assert (m.verdict().state, m.verdict().since_step, m.verdict().message) == (
        final["verdict"], final["since_step"], final["sentence"]
    )


# --------------------------------------------------------------------------------------------
# evaluate: known answers and the command's verdicts


def _digits(split: str) -> torch.Tensor:
    from gans.data import DataOptions, load_data

    data = load_data("digits", (1, 28, 28), options=DataOptions(seed=0))
    n = data.n_train if split == "train" else int(data.info["n_test"])
    x, y = data.real(n, split, seed=0)
    return x, y


def test_evaluate_one_class_is_collapsed_and_held_out_is_healthy():
    x, y = _digits("train")
    one_class = x[y == 3][:150]
    res = ganbench.evaluate(fake=one_class, real="digits", n=150)
    assert res.collapse.verdict == "collapsed", res.collapse.sentence
    held_out, _ = _digits("test")
    res = ganbench.evaluate(fake=held_out, real="digits", n=300)
    assert res.collapse.verdict == "healthy", res.collapse.sentence
    assert res.quality is not None and res.quality.verdict != "poor"
    assert "fid" in res.metrics and res.intervals


def test_evaluate_takes_a_callable_and_gives_the_cli_verdicts(tmp_path, capsys):
    """The same samples as a callable to evaluate and as a .npy file to `ganbench diagnose` (in-process, through
    the command's ``main``): the same verdicts, sentences and metrics."""
    from ganbench.cli import main

    x, y = _digits("train")
    pool = torch.cat([x[y == 1][:60], x[y == 7][:60]])
    batches = iter(pool.split(40))
    res = ganbench.evaluate(fake=lambda: next(batches), real="digits", n=120, seed=3)
    np.save(tmp_path / "fake.npy", pool.numpy())
    capsys.readouterr()
    rc = main(["diagnose", "--real", "digits", "--fake", str(tmp_path / "fake.npy"), "--n", "120", "--seed", "3",
               "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    cli = json.loads(out)
    assert (res.collapse.verdict, res.collapse.sentence) == (cli["verdict"]["collapse"], cli["verdict"]["sentence"])
    assert (res.quality.verdict, res.quality.sentence) == (cli["quality"]["verdict"], cli["quality"]["sentence"])
    assert res.metrics == cli["metrics"]


def test_evaluate_mistakes_are_user_errors():
    with pytest.raises(UserError, match="must be a tensor, an array"):
        ganbench.evaluate(fake=object(), real="digits")
    with pytest.raises(UserError, match="no such file or folder"):
        ganbench.evaluate(fake=torch.rand(20, 1, 28, 28), real="/no/such/place")


@pytest.mark.slow
def test_evaluate_fashion_mnist_one_class_collapsed_held_out_healthy():
    from gans.data import DataOptions, load_data

    data = load_data("fashion-mnist", (1, 28, 28), options=DataOptions(seed=0))
    x, y = data.real(6000, "train", seed=1)
    res = ganbench.evaluate(fake=x[y == 0][:500], real="fashion-mnist", n=500)
    assert res.collapse.verdict == "collapsed", res.collapse.sentence
    t, _ = data.real(1000, "test", seed=1)
    res = ganbench.evaluate(fake=t, real="fashion-mnist", n=1000)
    assert res.collapse.verdict == "healthy", res.collapse.sentence
