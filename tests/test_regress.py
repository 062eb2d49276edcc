"""The CI regression gate passes on an unchanged tree and fails on an injected 30 % slowdown.

The baseline is measured in the test itself (same machine, same run conditions), then the
gate runs twice against it: unchanged (must pass) and with ``GANBENCH_INJECT_SLOWDOWN``
slowing mnist_mlp's timed step by 30 % (must fail, naming mnist_mlp and not pattern1010).
The 15 % threshold sits between the ratio's run-to-run noise and 30 %, and a GAN over it is
re-measured before the gate fails.
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
    assert by["pattern1010"]["verdict"] != "slower"
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
