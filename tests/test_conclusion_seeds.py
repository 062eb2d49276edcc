"""A multi-seed comparison's conclusion names the seed of every run it talks about (issue 27: "Poor samples from
batch 512 (… FID 1,174 …); batch 512 (… FID 1,231 …)" did not say which was which)."""

from __future__ import annotations

from reports.compare import build_comparison
from tests.helpers.reports import write_synthetic_run

CEIL = {"fid": 18.0, "precision": 0.8, "recall": 0.8, "density": 1.0, "coverage": 0.95}
GOOD = {"fid": 30.0, "precision": 0.6, "recall": 0.5, "density": 0.8, "coverage": 0.7}


def _run(path, bs, seed, final):
    first = {k: (v * 2 if k == "fid" else v / 2) for k, v in final.items()}
    return write_synthetic_run(path, batch_size=bs, seed=seed, epochs=4, evals=[first, dict(final)], ceiling=CEIL)


def test_two_seeds_name_each_run(tmp_path):
    failed = {"fid": 1174.0, "precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    runs = [
        _run(tmp_path / "a0", 96, 0, GOOD),
        _run(tmp_path / "a1", 96, 1, {**GOOD, "fid": 32.0}),
        _run(tmp_path / "b0", 512, 0, failed),
        _run(tmp_path / "b1", 512, 1, {**failed, "fid": 1231.0}),
    ]
    c = build_comparison(runs).conclusion
    (poor,) = [s for s in c.summary if s.startswith("Poor samples from")]
    assert "batch 512 seed 0 (FID 1,174" in poor and "batch 512 seed 1 (FID 1,231" in poor
    assert poor.endswith("usable samples from batch 96 seed 0, batch 96 seed 1.")


def test_one_seed_keeps_the_short_names(tmp_path):
    failed = {"fid": 1100.0, "precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    c = build_comparison([_run(tmp_path / "a", 96, 0, GOOD), _run(tmp_path / "b", 512, 0, failed)]).conclusion
    (poor,) = [s for s in c.summary if s.startswith("Poor samples from")]
    assert poor.startswith("Poor samples from batch 512 (FID 1,100") and "seed" not in poor
    assert poor.endswith("usable samples from batch 96.")


def test_the_throughput_sentence_names_disturbed_runs(tmp_path):
    import json

    fast = _run(tmp_path / "a", 96, 0, GOOD)
    slow = _run(tmp_path / "b", 512, 0, {**GOOD, "fid": 60.0})
    for rd, load, cpw in ((fast, 1.0, 0.99), (slow, 5.0, 0.4)):  # 1 thread on 2 cores; the second beside a load of 5
        lines = [json.loads(x) for x in (rd / "metrics.jsonl").read_text().splitlines() if x.strip()]
        for r in lines:
            if r.get("type") == "scalars":
                r.update({"load_1m": load, "time/cpu_per_wall": cpw})
        lines.insert(0, {"type": "event", "step": 0, "event": "start", "cpus": 2, "threads": 1})
        (rd / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    comp = build_comparison([fast, slow])
    assert [s.contention for s in comp.runs] == ["clean", "disturbed"]
    text = " ".join(comp.conclusion.summary)
    assert "Disturbed while training (gans.contention's limits), so not clean figures: batch 512 (" in text
    assert "batch 96 (" not in text.split("Disturbed while training")[1]
