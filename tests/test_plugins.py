"""Your own GAN under the harness: the family contract, file/module specs, entry points, and safety.

A family is a ``ganbench.GAN`` subclass found through the ``ganbench.gans`` entry points (the built-in ones
too) or a ``PATH.py:CLASS`` / ``MODULE:CLASS`` spec the user typed. Code is never imported from a run folder.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.cli import main
from gans.base import UserError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tinygan"
SPEC = f"{EXAMPLE / 'tinygan.py'}:TinyGAN"


@pytest.fixture
def cache(session_cache: Path) -> Path:
    """The test session's temporary GANBENCH_CACHE (tests/conftest.py), for the subprocesses."""
    return session_cache


def _env(cache: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "GANBENCH_CACHE": str(cache)}
    env.update(extra)
    return env


def _cli(*args: str, cache: Path, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 600):
    return subprocess.run(
        [sys.executable, "-m", "ganbench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or _env(cache),
    )


# --------------------------------------------------------------------------------------------
# Registration: one mechanism for built-in and external families


def test_builtin_families_are_the_entry_points_and_nothing_else():
    """Every built-in family is registered through the entry-point group external ones use, every GAN class
    in gans/models that declares a Config is registered, and no code keeps its own list of family names."""
    import importlib
    import pkgutil

    import gans.models
    from gans.families import BUILTIN_DIST, entry_point_table
    from gans.models import GAN, get_gan_entry

    table = entry_point_table()
    builtin = {n: i for n, i in table.items() if i.dist.lower() == BUILTIN_DIST}
    assert len(builtin) == 11
    declared = set()
    for mod in pkgutil.iter_modules(gans.models.__path__):
        module = importlib.import_module(f"gans.models.{mod.name}")
        for obj in vars(module).values():
            own = isinstance(obj, type) and obj.__module__ == module.__name__
            if own and issubclass(obj, GAN) and "Config" in vars(obj):
                declared.add(f"{obj.__module__}:{obj.__qualname__}")
    assert declared == {i.value for i in builtin.values()}
    for name in builtin:
        entry = get_gan_entry(name)
        assert entry.origin == "built-in" and entry.cls.name == name and entry.summary

    # no other list of family names: no table keyed by family names (per-family settings kept apart from the
    # family), and no list that names most of them (a registry kept by hand); a chosen subset (a gate's default
    # GANs) is a selection, not a list every new family must join
    names = set(builtin)
    offenders = []
    for pkg in ("gans", "bench", "diagnostics", "ganbench", "reports"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
                    elts = node.keys if isinstance(node, ast.Dict) else node.elts
                    found = {e.value for e in elts if isinstance(e, ast.Constant) and e.value in names}
                    if len(found) >= (2 if isinstance(node, ast.Dict) else len(names) // 2 + 1):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {sorted(found)}")
    assert not offenders, offenders
    assert not (ROOT / "ganbench" / "names.py").exists()


def test_help_lists_the_installed_names_without_importing_torch():
    code = (
        "import sys; from ganbench.cli import gan_help; import ganbench; text = gan_help(); "
        "assert 'mnist_mlp' in text and 'PATH.py:CLASS' in text, text; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_public_api_is_stable():
    import ganbench

    assert ganbench.__all__ == [
        "GAN",
        "Phase",
        "StepContext",
        "standard_bce_phases",
        "load_family",
        "EquilibriumMonitor",
        "EquilibriumVerdict",
        "evaluate",
        "Evaluation",
        "Judgement",
        "UserError",
    ]
    for name in ganbench.__all__:
        assert getattr(ganbench, name) is not None
    from gans.models.core import GAN

    assert ganbench.GAN is GAN and issubclass(ganbench.UserError, ValueError)
    with pytest.raises(AttributeError):
        ganbench.no_such_name  # noqa: B018


# --------------------------------------------------------------------------------------------
# Specs: what a mistake says


@pytest.mark.parametrize(
    "source, attr, message",
    [
        (None, "TinyGAN", "no such file"),
        ("def broken(:\n", "X", "syntax error"),
        ("raise RuntimeError('boom at import')\n", "X", "importing it failed: RuntimeError: boom at import"),
        ("class X:\n    pass\n", "X", "not a subclass of ganbench.GAN"),
        ("import ganbench\nclass G(ganbench.GAN):\n    pass\n", "X", "defines no 'X'; its ganbench.GAN subclasses: G"),
        ("import ganbench\nclass G(ganbench.GAN):\n    pass\n", "G", "G.Config must be a dataclass"),
    ],
)
def test_a_bad_file_spec_is_one_line_naming_the_file(tmp_path, capsys, source, attr, message):
    path = tmp_path / "mine.py"
    if source is not None:
        path.write_text(source)
    assert main(["train", f"{path}:{attr}", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_contract_checks_name_what_is_missing(tmp_path, capsys):
    path = tmp_path / "half.py"
    path.write_text(
        "from dataclasses import dataclass\nimport ganbench\n"
        "@dataclass\nclass C:\n    lr: float = 1e-3\n"
        "class NoLogits(ganbench.GAN):\n    Config = C\n    data_shape = (4,)\n"
        "class NoZ(NoLogits):\n    def d_logits(self, x, labels=None):\n        return x.sum(1)\n"
    )
    assert main(["train", f"{path}:NoLogits", "--steps", "1"]) == 2
    assert "must implement d_logits" in capsys.readouterr().err
    assert main(["train", f"{path}:NoZ", "--steps", "1"]) == 2
    assert "Config lacks beta1, beta2, z_dim" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The example package, end to end (small steps)


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """``ganbench ARGS`` in-process (the console script's ``main``): (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_example_family_trains_sweeps_gates_and_compares(tmp_path, capsys):
    """The ~25-line example trains, sweeps, records a gate baseline and passes the gate, and compare-batch
    compares two batch sizes: no code beyond the family. (In-process through ``main``; the sweep's cell and the
    gate's timing children are still their own processes.)"""
    run = tmp_path / "run"
    rc, out, err = _main(capsys, "train", SPEC, "--steps", "30", "--log-every", "10", "--out", str(run), "--quiet",
                         "--json")
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["status"] == "finished" and summary["step"] == 30 and summary["dataset"] == "digits"
    config = json.loads((run / "config.json").read_text())
    assert config["gan"] == SPEC and config["gan_config"]["hidden"] == 128
    assert (run / "verdicts.json").is_file() and (run / "checkpoint.pt").is_file()

    sweep = tmp_path / "sweep"
    rc, out, err = _main(capsys, "sweep", "--gans", SPEC, "--batch-sizes", "8", "--steps", "3", "--warmup", "1",
                         "--out", str(sweep))
    assert rc == 0, out + err
    rows = [json.loads(line) for line in (sweep / "results.jsonl").read_text().splitlines()]
    assert [(row["gan"], row["batch_size"], row["status"]) for row in rows] == [(SPEC, 8, "ok")]
    assert rows[0]["ms_median"] > 0

    baseline = tmp_path / "baseline.json"
    gate = ("regress", "--quick", "--gans", SPEC, "--baseline", str(baseline), "--rounds", "3")
    rc, out, err = _main(capsys, *gate, "--update-baseline")
    assert rc == 0, out + err
    stored = json.loads(baseline.read_text())["modes"]["quick"]["gans"]
    assert list(stored) == [SPEC] and stored[SPEC]["batch_size"] == 64 and stored[SPEC]["ratio"] > 0
    rc, out, err = _main(capsys, *gate, "--threshold", "0.9")  # unchanged code against its own fresh baseline
    assert rc == 0, out + err

    out_dir = tmp_path / "cmp"
    rc, out, err = _main(capsys, "compare-batch", SPEC, "--batch-sizes", "16", "32", "--dry-run", "--out",
                         str(out_dir), "--quiet")
    assert rc == 0, out + err
    assert (out_dir / "comparison.html").is_file() and (out_dir / "comparison.json").is_file()
    from gans.families import folder_name

    name = folder_name(SPEC)  # a spec never becomes a path: the runs stay inside --out
    assert name.startswith("TinyGAN-") and "/" not in name
    assert sorted(p.name for p in (out_dir / "runs").iterdir()) == [f"{name}-bs16-seed0", f"{name}-bs32-seed0"]
    assert not list(EXAMPLE.glob("*-bs*"))


def test_installed_entry_point_works_like_a_builtin_name(tmp_path, cache):
    """A distribution that declares `tinygan = "tinygan:TinyGAN"` in the group makes `tinygan` a name: it is
    listed with its origin and trains. (The dist-info folder here is what `pip install ./examples/tinygan`
    writes.)"""
    site = tmp_path / "site"
    info = site / "ganbench_tinygan-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganbench-tinygan\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[ganbench.gans]\ntinygan = tinygan:TinyGAN\n")
    env = _env(cache, PYTHONPATH=os.pathsep.join([str(site), str(EXAMPLE), str(ROOT)]))
    r = _cli("list", "--json", cache=cache, env=env)
    assert r.returncode == 0, r.stderr
    rows = {g["name"]: g for g in json.loads(r.stdout)["gans"]}
    assert rows["tinygan"]["origin"] == "entry point (ganbench-tinygan 0.1.0)"
    assert rows["tinygan"]["source"] == "tinygan:TinyGAN" and rows["mnist_mlp"]["origin"] == "built-in"
    r = _cli("list", cache=cache, env=env)
    assert "tinygan" in r.stdout and "(entry point (ganbench-tinygan 0.1.0): tinygan:TinyGAN)" in r.stdout
    run = tmp_path / "run"
    r = _cli("train", "tinygan", "--steps", "4", "--no-diagnostics", "--out", str(run), "--quiet", cache=cache,
             env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "config.json").read_text())["gan"] == "tinygan"
    # an entry point that fails to import is one line naming it
    (info / "entry_points.txt").write_text("[ganbench.gans]\nbroken = no_such_module:X\n")
    r = _cli("train", "broken", "--steps", "1", cache=cache, env=env)
    assert r.returncode == 2 and "entry point 'broken' of ganbench-tinygan" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------
# Safety: a run folder never imports code


def test_a_run_folder_naming_a_plugin_file_never_imports_it(tmp_path, cache):
    """Train from a plug-in file that writes a marker when imported; then resume, report and diagnose the run,
    and point its config.json at another planted file: nothing is imported, and each says how to go on."""
    marker = tmp_path / "imported.txt"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        + (EXAMPLE / "tinygan.py").read_text()
    )
    run = tmp_path / "run"
    r = _cli("train", f"{plugin}:TinyGAN", "--steps", "6", "--log-every", "3", "--no-diagnostics", "--out", str(run),
             "--quiet", cache=cache)
    assert r.returncode == 0 and marker.exists(), r.stderr  # typed on the command line: imported
    marker.unlink()

    r = _cli("train", "--resume", str(run), "--steps", "9", "--quiet", cache=cache)
    assert r.returncode == 2 and "not loaded here" in r.stderr and f"{plugin}:TinyGAN" in r.stderr
    r = _cli("report", str(run), "-o", str(tmp_path / "report.html"), cache=cache)
    assert r.returncode == 0, r.stderr
    r = _cli("diagnose", "--real", "digits", "--fake", str(run), "--n", "50", cache=cache)
    assert r.returncode == 2 and "not loaded here" in r.stderr
    assert not marker.exists()

    other = tmp_path / "other.py"
    other.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('other')\n")
    config = json.loads((run / "config.json").read_text())
    config["gan"] = config["train"]["gan"] = f"{other}:TinyGAN"
    (run / "config.json").write_text(json.dumps(config))
    r = _cli("train", "--resume", str(run), "--steps", "9", "--quiet", cache=cache)
    assert r.returncode == 2 and "not loaded here" in r.stderr
    assert not marker.exists()

    # named again on the command line, the run goes on
    config["gan"] = config["train"]["gan"] = f"{plugin}:TinyGAN"
    (run / "config.json").write_text(json.dumps(config))
    r = _cli("train", "--resume", str(run), f"{plugin}:TinyGAN", "--steps", "9", "--quiet", "--no-diagnostics",
             cache=cache)
    assert r.returncode == 0, r.stderr
    assert marker.exists()  # imported because it was typed


def test_an_init_that_raises_is_one_line_naming_the_family(tmp_path, capsys):
    path = tmp_path / "raises.py"
    path.write_text((EXAMPLE / "tinygan.py").read_text().replace("h = config.hidden", "h = config.hidden // 0"))
    assert main(["train", f"{path}:TinyGAN", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "building it failed in TinyGAN.__init__: ZeroDivisionError" in err[0], err


def test_get_gan_entry_never_imports_a_spec(tmp_path):
    from gans.models import get_gan_entry

    marker = tmp_path / "imported.txt"
    plugin = tmp_path / "never.py"
    plugin.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n")
    with pytest.raises(UserError, match="not loaded here"):
        get_gan_entry(f"{plugin}:G")
    assert not marker.exists()
