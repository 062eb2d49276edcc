"""Equilibrium verdicts: rules on synthetic logs, and known training runs."""

from __future__ import annotations

import json
import math

import pytest

from diagnostics.equilibrium import EquilibriumThresholds, EquilibriumTracker, equilibrium_verdicts, final_verdict


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "ganbench-cache"))
        yield


def logs(pairs, start=50, every=50, **extra):
    """metrics.jsonl-style scalars records from (D(x), D(G(z))) pairs."""
    out = []
    for i, (r, f) in enumerate(pairs):
        rec = {
            "type": "scalars",
            "step": start + i * every,
            "d/real": r,
            "d/fake": f,
            "loss/d": 0.5 * (-math.log(max(r, 1e-9)) - math.log(max(1 - f, 1e-9))),
        }
        rec.update(extra)
        out.append(rec)
    return out


def test_balanced_and_loss_target_in_sentence():
    span = final_verdict(logs([(0.52, 0.48)] * 12), "probability", "bce")
    assert span.verdict == "balanced" and span.since_step == 50
    assert "D(x)=0.52" in span.sentence and "0.693" in span.sentence  # BCE equilibrium ln 2
    mse = final_verdict(logs([(0.49, 0.51)] * 12), "probability", "mse")
    assert mse.verdict == "balanced" and "0.250" in mse.sentence  # the 1010 GAN's MSE target


def test_d_dominates_since_step_and_numbers():
    records = logs([(0.5, 0.5)] * 10 + [(0.97, 0.03)] * 20)
    spans = equilibrium_verdicts(records, "probability", "bce")
    # a step change is not an oscillation: balanced, (moving: drifting), then D dominates
    assert spans[0].verdict == "balanced" and spans[-1].verdict == "d_dominates"
    assert "oscillating" not in [s.verdict for s in spans]
    dom = spans[-1]
    # the 10-log window mean first passes 0.8 at the 7th dominated log (0.5·3 + 0.97·7)/10 = 0.829
    assert dom.since_step == records[16]["step"]
    assert dom.sentence.startswith(
        f"D dominates since step {dom.since_step}: mean D(x)=0.97, D(G(z))=0.03 over the last 10 logs"
    )
    assert "(thresholds D(x) ≥ 0.8, gap ≥ 0.6)" in dom.sentence
    assert spans[-2].until_step == dom.since_step and spans[1].since_step == 550  # drifting from the jump on
    assert dom.numbers["d_real"] == pytest.approx(0.97)


def test_g_dominates_oscillating_drifting_diverged():
    assert final_verdict(logs([(0.3, 0.7)] * 10)).verdict == "g_dominates"
    swing = [(0.9, 0.1), (0.2, 0.8)] * 6
    assert final_verdict(logs(swing)).verdict == "oscillating"
    assert final_verdict(logs([(0.72, 0.3)] * 10)).verdict == "drifting"  # off target, not dominated
    trend = [(0.5 + 0.04 * i, 0.5 - 0.04 * i) for i in range(10)]
    assert final_verdict(logs(trend)).verdict in ("drifting", "d_dominates")
    nan = logs([(0.5, 0.5)] * 5) + logs([(float("nan"), 0.5)], start=300)
    last = final_verdict(nan)
    assert last.verdict == "diverged" and last.since_step == 300  # immediate, no confirmation
    assert "nan" in last.sentence


def test_hysteresis_ignores_a_single_noisy_log():
    th = EquilibriumThresholds(window=1, confirm=3)
    tr = EquilibriumTracker("probability", "bce", th)
    seq = [(0.5, 0.5)] * 3 + [(0.95, 0.05)] + [(0.5, 0.5)] * 3 + [(0.95, 0.05)] * 3
    changes = [tr.update(50 * (i + 1), {"d/real": r, "d/fake": f}) for i, (r, f) in enumerate(seq)]
    assert [c.verdict for c in changes if c] == ["balanced", "d_dominates"]
    assert tr.current.since_step == 50 * 8  # the first log of the confirmed run


def test_critic_uses_gap_and_trend_never_half():
    def crit(gaps):
        return [
            {"type": "scalars", "step": 10 * (i + 1), "critic/gap": g, "d/real": g, "d/fake": 0.0}
            for i, g in enumerate(gaps)
        ]

    shrinking = final_verdict(crit([20 - i for i in range(12)]), "critic", "wasserstein")
    assert shrinking.verdict == "balanced" and "shrinking" in shrinking.sentence
    assert final_verdict(crit([10 + 3 * i for i in range(12)]), "critic", "wasserstein").verdict == "d_dominates"
    assert final_verdict(crit([-3.0] * 10), "critic", "wasserstein").verdict == "g_dominates"
    # D(x)=D(G(z))=0.5 means nothing for a critic: a stable gap of 2 is balanced
    assert final_verdict(crit([2.0] * 10), "critic", "wasserstein").verdict == "balanced"
    assert final_verdict(crit([1.0] * 5 + [float("inf")]), "critic", "wasserstein").verdict == "diverged"


def crit_logs(gaps, gp=None):
    out = []
    for i, g in enumerate(gaps):
        rec = {"type": "scalars", "step": 10 * (i + 1), "critic/gap": g, "d/real": g, "d/fake": 0.0}
        if gp is not None:  # loss/d = −gap + λ·GP, with λ·GP = gp
            rec.update({"critic/gp": gp / 10.0, "loss/d": -g + gp})
        out.append(rec)
    return out


@pytest.mark.parametrize(
    "pairs, want",
    [
        ([(0.69, 0.31)] * 12, "drifting"),  # 0.19 off 0.5: not balanced (tolerance 0.1)
        ([(0.95, 0.25)] * 12, "d_dominates"),  # D(x) ≥ 0.8 and a gap of 0.70 ≥ 0.6
        ([(0.58, 0.42)] * 12, "balanced"),  # both within 0.5 ± 0.1
        ([(0.61, 0.50)] * 12, "drifting"),  # D(x) just outside the tolerance
        ([(0.85, 0.30)] * 12, "drifting"),  # D(x) high but the gap 0.55 < 0.6: not domination
        ([(0.42, 0.45)] * 12, "balanced"),
    ],
)
def test_constant_streams_known_answers(pairs, want):
    assert final_verdict(logs(pairs), "probability", "bce").verdict == want


def test_first_verdict_needs_several_logs_and_dates_from_the_window():
    th = EquilibriumThresholds()
    tr = EquilibriumTracker("probability", "bce", th)
    seen = [tr.update(50 * (i + 1), {"d/real": 0.5, "d/fake": 0.5}) for i in range(th.min_logs)]
    assert seen[: th.min_logs - 1] == [None] * (th.min_logs - 1)  # one log decides nothing
    assert seen[-1].verdict == "balanced" and seen[-1].since_step == 50
    # a non-finite value is still immediate
    tr2 = EquilibriumTracker("probability", "bce", th)
    assert tr2.update(50, {"d/real": float("nan"), "d/fake": 0.5}).verdict == "diverged"


@pytest.mark.parametrize(
    "gaps, gp, want",
    [
        ([1e4] * 12, None, "d_dominates"),  # a constant huge gap is not balance
        ([1e4] * 12, 5.0, "d_dominates"),
        ([2.0] * 12, 0.5, "balanced"),  # small, stable, GP a small share
        ([8.0] * 12, 20.0, "d_dominates"),  # large gap, GP 71 % of the critic loss
        ([8.0] * 12, 1.0, "drifting"),  # large and holding, penalty in control
        ([1.0 + 0.3 * i for i in range(12)], None, "drifting"),  # small gap rising steadily
        ([50 - 3 * i for i in range(12)], None, "balanced"),  # shrinking
    ],
)
def test_critic_streams_known_answers(gaps, gp, want):
    span = final_verdict(crit_logs(gaps, gp), "critic", "wasserstein")
    assert span.verdict == want, span.sentence
    if gp is not None:
        assert "GP" in span.sentence and span.numbers["gp_share"] == pytest.approx(gp / (gaps[-1] + gp), rel=0.05)


# --------------------------------------------------------------------------------------------
# Known runs


@pytest.mark.slow
def test_seed_1010_gan_ends_balanced(tmp_path):
    """The seed's 1010 GAN with its defaults (10,000 steps at batch 1) settles at D = 0.5."""
    from diagnostics.live import training_callbacks
    from gans.training.loop import TrainConfig, train
    from gans.training.rundir import read_metrics

    res = train(
        TrainConfig(gan="pattern1010", device="cpu"),
        tmp_path / "run",
        callbacks=training_callbacks(eval_samples=500),
        progress=False,
    )
    assert res.status == "finished" and res.step == 10_000
    recs = read_metrics(tmp_path / "run")
    span = final_verdict(recs, "probability", "mse")
    assert span.verdict == "balanced"
    assert abs(span.numbers["d_real"] - 0.5) < 0.1 and abs(span.numbers["d_fake"] - 0.5) < 0.1
    verdicts = json.loads((tmp_path / "run" / "verdicts.json").read_text())
    assert verdicts["equilibrium"]["verdict"] == "balanced"
    events = [r for r in recs if r.get("event") == "verdict"]
    assert events and events[-1]["verdict"] == "balanced" and events[-1]["kind"] == "equilibrium"
    # its G takes the constant 0.5 as input: one output, so the collapse verdict says so
    assert verdicts["collapse"]["verdict"] == "collapsed"


def test_large_discriminator_lr_ends_d_dominates(tmp_path):
    from diagnostics.live import training_callbacks
    from gans.training.loop import TrainConfig, train
    from gans.training.rundir import read_metrics

    cfg = TrainConfig(
        gan="mnist_mlp", dataset="digits", batch_size=64, steps=60, log_every=10, device="cpu", overrides={"lr_d": 1e-2}
    )
    res = train(cfg, tmp_path / "run", callbacks=training_callbacks(evaluate=False), progress=False)
    assert res.status == "finished"
    scal = read_metrics(tmp_path / "run", "scalars")
    last = scal[-5:]
    assert sum(r["d/real"] for r in last) / 5 > 0.9 and sum(r["d/fake"] for r in last) / 5 < 0.1  # really dominates
    assert final_verdict(scal).verdict == "d_dominates"
    v = json.loads((tmp_path / "run" / "verdicts.json").read_text())["equilibrium"]
    assert v["verdict"] == "d_dominates" and v["sentence"].startswith(f"D dominates since step {v['since_step']}")


def test_run_forced_to_nan_is_diverged(tmp_path, monkeypatch):
    import gans.training.loop as loop
    from diagnostics.live import training_callbacks
    from gans.training import read_metrics

    real_step = loop.train_step

    def poisoned(gan, real, labels=None, *, step=0, **kw):
        out = real_step(gan, real, labels, step=step, **kw)
        if step >= 35:
            out = {k: v * float("nan") for k, v in out.items()}
        return out

    monkeypatch.setattr(loop, "train_step", poisoned)
    cfg = loop.TrainConfig(gan="pattern1010", steps=100, log_every=10, device="cpu", overrides={"pretrain_d_steps": 0})
    res = loop.train(cfg, tmp_path / "run", callbacks=training_callbacks(evaluate=False), progress=False)
    assert res.status == "diverged"
    v = json.loads((tmp_path / "run" / "verdicts.json").read_text())["equilibrium"]
    assert v["verdict"] == "diverged" and v["since_step"] == 40
    ev = [r for r in read_metrics(tmp_path / "run", "event") if r["event"] == "verdict"]
    assert ev[-1]["verdict"] == "diverged" and ev[-1]["since_step"] == 40
