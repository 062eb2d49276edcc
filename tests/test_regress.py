"""The CI regression gate passes on an unchanged tree and fails on an injected 30 % slowdown.

The baseline is measured in the test itself (same machine, same run conditions), then the
gate runs twice against it: unchanged (must pass) and with ``GANBENCH_INJECT_SLOWDOWN``
slowing mnist_mlp's timed step by 30 % (must fail, naming mnist_mlp).
The 15 % threshold sits between the ratio's run-to-run noise and 30 %, and a GAN over it is
re-measured before the gate fails. Which GANs the gate blames, and what it forgives as noise,
is tested on scripted measurements (known answers, no timing) further down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.regress import DEFAULT_BASELINE, run_gate

ROOT = Path(__file__).resolve().parents[1]
GANS = ["pattern1010", "mnist_mlp"]


def test_gate_passes_unchanged_and_fails_on_injected_slowdown(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANBENCH_INJECT_SLOWDOWN", raising=False)
    baseline = tmp_path / "baseline.json"
    log: list[str] = []
    code, _ = run_gate(gans=GANS, quick=True, baseline_path=baseline, update=True, rounds=7, log=log.append)
    assert code == 0
    stored = json.loads(baseline.read_text())["modes"]["quick"]["gans"]
    assert set(stored) == set(GANS) and all(v["ratio"] > 0 for v in stored.values())

    code, rows = run_gate(gans=GANS, quick=True, baseline_path=baseline, rounds=7, log=log.append)
    assert code == 0, "\n".join(log)
    assert all(not r["verdict"].startswith("slower") for r in rows)

    monkeypatch.setenv("GANBENCH_INJECT_SLOWDOWN", "mnist_mlp:1.3")
    code, rows = run_gate(gans=GANS, quick=True, baseline_path=baseline, rounds=7, log=log.append)
    by = {r["gan"]: r for r in rows}
    assert code == 1, "\n".join(log)
    assert by["mnist_mlp"]["verdict"] == "slower" and by["mnist_mlp"]["change"] > 0.15
    assert any("REGRESSION: mnist_mlp" in line for line in log)
    assert any("SLOWER" in line and "mnist_mlp" in line for line in log)  # the readable table


def test_committed_baseline_covers_every_registered_gan():
    from gans.models.core import list_gans

    data = json.loads(DEFAULT_BASELINE.read_text())
    quick = data["modes"]["quick"]["gans"]
    assert set(list_gans()) <= set(quick), (
        f"regenerate with `ganbench regress --quick --update-baseline`: missing {set(list_gans()) - set(quick)}"
    )
    assert 0 < data["threshold"] < 0.3


def test_regress_cli_dry_run_and_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GANBENCH_CACHE": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "regress", "--quick", "--dry-run"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and "celeba_conv" in r.stdout and "nothing was measured" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "regress", "--gans", "nope"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 2 and "ganbench: error: unknown GAN 'nope'" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "regress", "--gans", "pattern1010"],
        capture_output=True,
        text=True,
        env={**env, "GANBENCH_INJECT_SLOWDOWN": "pattern1010"},
    )
    assert r.returncode == 2 and "GANBENCH_INJECT_SLOWDOWN" in r.stderr


# -- known answers of the comparison: each signal alone, both, and "cannot tell" -------------------


def _m(ratio, vs_minimal=None):
    d = {"ratio": ratio, "step_ms": 1.0, "cal_ms": 1.0, "batch_size": 8}
    if vs_minimal is not None:
        d["vs_minimal"] = vs_minimal
    return d


def test_compare_fails_on_either_signal_and_ignores_a_missing_one():
    from bench.regress import compare

    base = {"a": _m(2.0, 1.0), "b": _m(2.0, 1.0), "c": _m(2.0, 1.0), "d": _m(2.0), "e": _m(2.0, 1.0)}
    cur = {
        "a": _m(2.0, 1.0),  # unchanged
        "b": _m(2.0, 1.25),  # 25 % further behind the minimal loop, calibration ratio unchanged
        "c": _m(2.6, 1.0),  # 30 % slower against the calibration, same distance to minimal
        "d": _m(2.0, 5.0),  # no minimal ratio in the baseline: that signal cannot tell
        "e": _m(2.0, 1.1),  # 10 % further behind: within the threshold
    }
    rows = {r["gan"]: r for r in compare(cur, base, 0.15)}
    assert rows["a"]["verdict"] == "ok" and rows["a"]["why"] == []
    assert rows["b"]["verdict"] == "slower" and rows["b"]["why"] == ["minimal"]
    assert abs(rows["b"]["change_vs_minimal"] - 0.25) < 1e-9
    assert rows["c"]["verdict"] == "slower" and rows["c"]["why"] == ["calibration"]
    assert rows["d"]["verdict"] == "ok" and "change_vs_minimal" not in rows["d"]
    assert rows["e"]["verdict"] == "ok"


def test_gate_blames_only_what_a_re_measurement_confirms_on_the_same_signal(tmp_path, monkeypatch):
    """Scripted measurements (no timing): the first pass puts three GANs over the threshold, the
    re-measurement confirms only the one whose *same* signal is over again."""
    import bench.regress as regress

    base = {g: _m(2.0, 1.0) for g in ("pattern1010", "mnist_mlp", "wgan_toy", "dcgan")}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(
        json.dumps({"version": 1, "threshold": 0.15, "modes": {"quick": {"device": "cpu", "gans": base}}})
    )
    first = {
        "pattern1010": _m(2.4, 1.0),  # +20 % on the calibration ratio once: a burst of load
        "mnist_mlp": _m(2.6, 1.3),  # +30 % on both signals: a real slowdown
        "wgan_toy": _m(2.0, 1.2),  # +20 % behind the minimal loop once ...
        "dcgan": _m(2.1, 1.05),  # +5 %: within the threshold
    }
    again = {
        "pattern1010": _m(2.04, 1.0),
        "mnist_mlp": _m(2.6, 1.3),
        "wgan_toy": _m(2.4, 1.0),  # ... then +20 % on the calibration ratio instead: two bursts, not one finding
    }
    calls: list[list[str]] = []

    def scripted(names, **kw):
        calls.append(list(names))
        table = first if len(calls) == 1 else again
        return {g: dict(table[g]) for g in names}

    monkeypatch.setattr(regress, "measure_normalised", scripted)
    log: list[str] = []
    code, rows = run_gate(gans=list(base), quick=True, baseline_path=baseline, log=log.append)
    by = {r["gan"]: r for r in rows}
    assert code == 1
    # only those over the threshold are re-measured
    assert calls[0] == list(base) and sorted(calls[1]) == ["mnist_mlp", "pattern1010", "wgan_toy"]
    assert by["mnist_mlp"]["verdict"] == "slower" and by["mnist_mlp"]["why"] == ["calibration", "minimal"]
    assert by["pattern1010"]["verdict"] == by["wgan_toy"]["verdict"] == "ok (noise: not confirmed)"
    assert by["dcgan"]["verdict"] == "ok"
    assert any("REGRESSION: mnist_mlp got" in line for line in log)

    calls.clear()
    again["mnist_mlp"] = _m(2.1, 1.0)  # the same first pass, but nothing repeats: the gate passes
    code, rows = run_gate(gans=list(base), quick=True, baseline_path=baseline, log=log.append)
    assert code == 0 and all(not r["verdict"].startswith("slower") for r in rows)
    assert log[-1] == "regression gate passed"


def test_regress_without_a_baseline_for_the_mode_is_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GANBENCH_CACHE": str(tmp_path)}
    env.pop("GANBENCH_INJECT_SLOWDOWN", None)
    quick_only = tmp_path / "quick_only.json"
    data = json.loads(DEFAULT_BASELINE.read_text())
    data["modes"] = {"quick": data["modes"]["quick"]}
    quick_only.write_text(json.dumps(data))
    for args, needle in (
        (["--baseline", str(quick_only)], "no full-mode baseline"),  # the full mode was never recorded
        (["--quick", "--baseline", str(tmp_path / "absent.json")], "no such file"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "ganbench", "regress", "--gans", "pattern1010", *args],
            capture_output=True,
            text=True,
            env=env,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.startswith("ganbench: error: ") and needle in r.stderr and "--update-baseline" in r.stderr
        assert "Traceback" not in r.stderr and "passed" not in r.stdout


def test_planted_item_per_phase_fails_through_the_minimal_ratio(tmp_path, monkeypatch):
    """An extra `.item()` per phase in train_step (on the phase's loss, evaluated once more for it)
    makes the gate fail, and the ganbench ÷ minimal ratio is one of the signals that catches it."""
    import dataclasses

    from gans.models.core import GAN

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANBENCH_INJECT_SLOWDOWN", raising=False)
    baseline = tmp_path / "baseline.json"
    log: list[str] = []
    settings = {"mnist_mlp": {"batch_size": 32, "overrides": {}}}
    import bench.regress as regress

    monkeypatch.setattr(regress, "QUICK_SETTINGS", {**regress.QUICK_SETTINGS, **settings})
    code, _ = run_gate(gans=["mnist_mlp"], quick=True, baseline_path=baseline, update=True, rounds=7, log=log.append)
    assert code == 0
    assert json.loads(baseline.read_text())["modes"]["quick"]["gans"]["mnist_mlp"]["vs_minimal"] > 0

    original = GAN.cached_phases

    def planted(self):
        def with_item(phase):
            def loss(ctx, f=phase.loss):
                f(ctx).item()  # the planted overhead: one more loss evaluation, read on the host
                return f(ctx)

            return dataclasses.replace(phase, loss=loss)

        return [with_item(p) for p in original(self)]

    monkeypatch.setattr(GAN, "cached_phases", planted)
    code, rows = run_gate(gans=["mnist_mlp"], quick=True, baseline_path=baseline, rounds=7, log=log.append)
    row = {r["gan"]: r for r in rows}["mnist_mlp"]
    assert code == 1, "\n".join(log)
    assert row["verdict"] == "slower" and "minimal" in row["why"], "\n".join(log)
    assert row["change_vs_minimal"] > 0.15
