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

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.regress import DEFAULT_BASELINE, run_gate

ROOT = Path(__file__).resolve().parents[1]
GANS = ["pattern1010", "mnist_mlp"]


@pytest.mark.slow  # wall-clock ratios across three gate runs: needs the cores to itself (CI runs slow tests serially)
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
    from bench.regress import baseline_problem
    from gans.models.core import list_gans

    data = json.loads(DEFAULT_BASELINE.read_text())
    assert baseline_problem(data) is None
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
    from gans.models.core import get_gan_entry

    monkeypatch.setattr(get_gan_entry("mnist_mlp").cls, "gate", {"quick": {"batch_size": 32}})
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


# -- a baseline file is data from elsewhere: every field the gate reads is checked first -------------

_GOOD_ENTRY = {"ratio": 1.5, "batch_size": 256, "steps": 50, "overrides": {}, "vs_minimal": 1.1}


def _baseline(entry=None, **top):
    gans = {"pattern1010": dict(_GOOD_ENTRY) if entry is None else entry}
    return {"version": 1, "threshold": 0.15, "modes": {"quick": {"device": "cpu", "gans": gans}}, **top}


BAD_BASELINES = [
    ([1, 2], "not a ganbench baseline"),
    ({"modes": []}, "not a ganbench baseline"),
    ({"modes": {"fast": {"gans": {}}}}, "unknown mode 'fast'"),
    ({"modes": {"quick": {"device": "cpu"}}}, "mode 'quick' has no 'gans' table"),
    ({"modes": {"quick": {"device": 3, "gans": {}}}}, "device 3 is not a device name"),
    (_baseline(None, threshold=100), "threshold 100 is not a fraction"),  # would switch the gate off
    (_baseline(None, threshold="0.15"), "threshold '0.15' is not a fraction"),
    (_baseline(None), None),  # sound
    (_baseline({}), "ratio None is not a positive number"),
    ({"modes": {"quick": {"gans": {"pattern1010": None}}}}, "None is not a measurement"),  # read as "no baseline"
    (_baseline({**_GOOD_ENTRY, "ratio": "abc"}), "ratio 'abc' is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "ratio": 0}), "ratio 0 is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "ratio": float("inf")}), "ratio inf is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "ratio": True}), "ratio True is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "vs_minimal": -1.0}), "vs_minimal -1.0 is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "batch_size": -5}), "batch_size -5 is not a positive integer"),
    (_baseline({**_GOOD_ENTRY, "steps": 2.5}), "steps 2.5 is not a positive integer"),
    (_baseline({**_GOOD_ENTRY, "steps": 10**9}), "steps 1000000000 is not a positive integer ≤ 1,000"),  # runs for ever
    (_baseline({**_GOOD_ENTRY, "batch_size": 10**8}), "batch_size 100000000 is not a positive integer"),
    (_baseline({**_GOOD_ENTRY, "overrides": ["channels", 32]}), "overrides ['channels', 32] is not a table"),
    # values that would switch the gate off or make it measure something absurd (bench.regress.BOUNDS)
    (_baseline(None, threshold=0.9), "threshold 0.9 is not a fraction between 0 and 0.5"),
    (_baseline({**_GOOD_ENTRY, "ratio": 1e300}), "ratio 1e+300 is outside 1e-06 … 1e+06"),
    (_baseline({**_GOOD_ENTRY, "ratio": float("nan")}), "ratio nan is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "ratio": -2.0}), "ratio -2.0 is not a positive number"),
    (_baseline({**_GOOD_ENTRY, "vs_minimal": 1e-9}), "vs_minimal 1e-09 is outside"),
    (_baseline({**_GOOD_ENTRY, "batch_size": 2**24}), "batch_size 16777216 is not a positive integer ≤ 4,096"),
    (_baseline({**_GOOD_ENTRY, "step_ms": float("inf")}), "step_ms inf is not a positive number of ms"),
    (_baseline({**_GOOD_ENTRY, "overrides": {"hidden": 1e8}}), "override hidden=100000000.0 is outside ±65,536"),
    (_baseline({**_GOOD_ENTRY, "overrides": {"hidden": 4}}), None),  # a sound override of pattern1010's field
    (_baseline({**_GOOD_ENTRY, "overrides": {"hidden_g": 8}}), "'hidden_g' is not a config field of pattern1010"),
    (_baseline({**_GOOD_ENTRY, "overrides": {"hidden": "8"}}), "override hidden='8' is not a int"),
    (_baseline({**_GOOD_ENTRY, "overrides": {"hidden": True}}), "override hidden=True is not a int"),
    (_baseline({**_GOOD_ENTRY, "overrides": {"hidden": {"a": [1]}}}), "is not a plain value"),
    (_baseline({**_GOOD_ENTRY, "overrides": {f"k{i}": 1 for i in range(40)}}), "40 overrides (at most 32)"),
]


@pytest.mark.parametrize("data, problem", BAD_BASELINES, ids=range(len(BAD_BASELINES)))
def test_baseline_problems_are_named_before_anything_is_measured(data, problem, tmp_path, monkeypatch):
    import bench.regress as regress
    from gans.base import UserError

    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    got = regress.baseline_problem(data)
    assert (got is None) == (problem is None) and (problem is None or problem in got), got
    monkeypatch.setattr(regress, "measure_normalised", lambda *a, **k: pytest.fail("measured a broken baseline"))
    if problem is None:
        assert regress.load_baseline(path) == data
        return
    with pytest.raises(UserError) as e:
        run_gate(gans=["pattern1010"], quick=True, baseline_path=path, log=lambda s: None)
    assert problem in str(e.value) and str(path) in str(e.value) and "--update-baseline" in str(e.value)
    with pytest.raises(UserError):  # --update-baseline does not overwrite a file it cannot read either
        run_gate(gans=["pattern1010"], quick=True, baseline_path=path, update=True, log=lambda s: None)
    assert path.read_text() == json.dumps(data)  # text, not parsed values: nan != nan


def test_absurd_overrides_of_a_registered_gan_are_refused_by_their_field():
    from bench.regress import baseline_problem

    entry = {"ratio": 2.0, "batch_size": 96, "overrides": {"hidden_g": 1e8}}
    data = {"modes": {"quick": {"device": "cpu", "gans": {"mnist_mlp": entry}}}}
    assert "override hidden_g=100000000.0 is outside ±65,536" in baseline_problem(data)
    entry["overrides"] = {"hidden_g": 64, "lr": 2e-4, "lr_d": 1e-4}  # lr_d defaults to None: any number
    assert baseline_problem(data) is None
    # an unregistered name is never resolved (a name in a file loads no code): only the plain-value bounds apply
    data["modes"]["quick"]["gans"] = {"evil.py:Payload": {"ratio": 2.0, "overrides": {"anything": 3}}}
    assert baseline_problem(data) is None


def test_broken_baseline_is_refused_by_dry_run_too(tmp_path):
    """Deeply nested JSON (a RecursionError in the parser), a huge file and an out-of-bounds value: one line,
    exit 2, with --dry-run as without it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GANBENCH_CACHE": str(tmp_path)}
    env.pop("GANBENCH_INJECT_SLOWDOWN", None)
    (tmp_path / "deep.json").write_text('{"modes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (tmp_path / "huge.json").write_text('{"modes": {}, "pad": "' + "x" * 1_100_000 + '"}')
    (tmp_path / "ratio.json").write_text(json.dumps(_baseline({**_GOOD_ENTRY, "ratio": 1e300})))
    for name, needle in (
        ("deep.json", "nested too deeply"),
        ("huge.json", "more than a baseline's 1,000,000"),
        ("ratio.json", "ratio 1e+300 is outside"),
    ):
        for extra in (["--dry-run"], []) if name == "ratio.json" else (["--dry-run"],):
            r = subprocess.run(
                [sys.executable, "-m", "ganbench", "regress", "--quick", "--gans", "pattern1010", "--baseline", name,
                 *extra],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert r.returncode == 2 and len(lines) == 1, (name, extra, r.stdout, r.stderr)
            assert lines[0].startswith(f"ganbench: error: {name}: ") and needle in lines[0], lines
            assert "probe" not in r.stdout and "passed" not in r.stdout


def test_unreadable_baseline_is_one_line_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GANBENCH_CACHE": str(tmp_path)}
    env.pop("GANBENCH_INJECT_SLOWDOWN", None)
    for name, content in (
        ("binary.json", b"\xff\xfe\x00"),
        ("null.json", b'{"modes": {"quick": {"gans": {"x": null}}}}'),
    ):
        (tmp_path / name).write_bytes(content)
        r = subprocess.run(
            [sys.executable, "-m", "ganbench", "regress", "--quick", "--gans", "pattern1010", "--baseline", name],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"ganbench: error: {name}: "), r.stderr
        assert "passed" not in r.stdout and "probe" not in r.stdout


_KEYS = [
    "modes",
    "quick",
    "full",
    "gans",
    "device",
    "threshold",
    "pattern1010",
    "ratio",
    "vs_minimal",
    "batch_size",
    "steps",
    "overrides",
]
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        _json,
        st.fixed_dictionaries(
            {"modes": st.dictionaries(st.sampled_from(["quick", "full"]), st.fixed_dictionaries({"gans": _json}))}
        ),
        st.builds(
            lambda e: _baseline({**_GOOD_ENTRY, **e}), st.dictionaries(st.sampled_from(_KEYS), _json, max_size=3)
        ),
    )
)
def test_any_json_is_named_a_problem_or_reads_through_the_gate_without_error(data):
    from bench.regress import baseline_problem, compare, format_report

    problem = baseline_problem(data)
    if problem is not None:
        assert isinstance(problem, str) and problem
        return
    for section in data["modes"].values():
        rows = compare(section["gans"], section["gans"], float(data.get("threshold", 0.15)))
        format_report(rows, 0.15)
        assert all(r["verdict"] == "ok" for r in rows)


def test_trend_reports_but_never_fails_and_json_stdout_is_only_json(tmp_path, monkeypatch, capsys):
    """--trend turns a stored-baseline regression into exit 0 (the table still says SLOWER); --json puts only the
    JSON on stdout in either case. The measurement is scripted (no timing)."""
    import bench.regress as regress
    from ganbench.cli import main

    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(_baseline(None)))
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(regress, "measure_normalised", lambda names, **kw: {g: _m(3.0, 1.1) for g in names})
    args = ["regress", "--quick", "--gans", "pattern1010", "--baseline", str(baseline), "--json"]
    assert main(args) == 1  # 3.0 against 1.5: twice as slow, confirmed by the (scripted) re-measurement
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert rows[0]["gan"] == "pattern1010" and rows[0]["verdict"] == "slower"
    assert "SLOWER" in err and "REGRESSION" in err
    assert main([*args, "--trend"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["verdict"] == "slower" and "trend record" in err
    assert main(["regress", "--quick", "--gans", "pattern1010", "--allow-dirty"]) == 2  # only with --against
    assert "--allow-dirty goes with --against" in capsys.readouterr().err
