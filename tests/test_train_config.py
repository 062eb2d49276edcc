"""The training config is checked once, where it enters (``TrainConfig.checked``), and the flags the user typed are
known from argparse itself (issue 23, item 3)."""

from __future__ import annotations

import json
import re

import pytest

from ganbench.cli import build_parser
from ganbench.train import dry_run_config, train_config, typed_fields
from gans.base import UserError
from gans.models import get_gan_entry
from gans.training import TrainConfig, train
from gans.training.config import resolve, saved_train_config


def _args(*argv: str):
    return build_parser().parse_args(["train", *argv])


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("batch_size", 0, "--batch-size must be positive, got 0"),
        ("steps", -3, "--steps must be positive, got -3"),
        ("log_every", -1, "--log-every must be ≥ 0, got -1"),
        ("precision", "fp16", "--precision 'fp16' is not one of fp32, bf16"),
        ("seed", "3", "--seed '3' is not int"),
        ("time_budget", float("inf"), "--time-budget inf is not float or null"),
    ],
)
def test_checked_names_the_flag(field, value, says):
    with pytest.raises(UserError) as e:
        TrainConfig(gan="mnist_mlp", **{field: value}).checked()
    assert str(e.value) == says


def test_checked_names_the_file_it_was_read_from(tmp_path):
    with pytest.raises(UserError) as e:
        saved_train_config({"gan": "mnist_mlp", "batch_size": 0}, tmp_path / "config.json")
    path = tmp_path / "config.json"
    assert str(e.value) == f"{path}: not a ganbench run configuration (batch_size 0 is not positive)"
    cfg = saved_train_config({"gan": "mnist_mlp", "batch_size": 8, "unknown": 1}, tmp_path / "config.json")
    assert cfg == TrainConfig(gan="mnist_mlp", batch_size=8)


def test_a_sound_config_is_returned_as_it_is():
    cfg = TrainConfig(gan="mnist_mlp", batch_size=4, steps=2, time_budget=1.5, overrides={"lr": "1e-3"})
    assert cfg.checked() is cfg


def test_a_familys_defaults_are_checked_too(monkeypatch):
    cls = get_gan_entry("mnist_mlp").cls
    assert resolve(TrainConfig(gan="mnist_mlp")).batch_size == cls.default_batch_size
    monkeypatch.setattr(cls, "default_batch_size", 0)  # a plug-in family with an unusable default
    with pytest.raises(UserError, match="--batch-size must be positive, got 0"):
        resolve(TrainConfig(gan="mnist_mlp"))


def test_train_refuses_a_bad_config_before_writing(tmp_path):
    with pytest.raises(UserError, match="--batch-size must be positive, got 0"):
        train(TrainConfig(gan="mnist_mlp", dataset="fake", batch_size=0, steps=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_compare_batch_checks_every_run_config_before_creating_its_folder(tmp_path):
    from bench.compare_batch import compare_batch

    with pytest.raises(UserError, match="--time-budget -1.0 is not positive|--time-budget must be positive"):
        compare_batch("mnist_mlp", [2, 4], out=tmp_path / "cmp", time_budget=-1.0, diagnostics=False, progress=False)
    assert not (tmp_path / "cmp").exists()


def test_typed_flags_come_from_argparse_not_from_reparsing():
    args = _args("mnist_mlp", "--seed", "0", "--set", "lr=1e-3", "--skip-corrupt")
    assert typed_fields(args) == {"seed", "overrides", "skip_corrupt"}
    assert typed_fields(_args("mnist_mlp")) == frozenset()
    assert typed_fields(_args("mnist_mlp", "--device=auto")) == {"device"}


def test_untyped_flags_take_the_dataclass_defaults():
    assert train_config(_args("mnist_mlp")) == TrainConfig(gan="mnist_mlp")
    cfg = train_config(_args("mnist_mlp", "--batch-size", "8", "--set", "lr=1e-3", "--epochs", "2"))
    assert cfg == TrainConfig(gan="mnist_mlp", batch_size=8, epochs=2, overrides={"lr": "1e-3"})


def test_help_states_the_dataclass_defaults():
    """The help texts spell the defaults out; they must be the ones TrainConfig declares."""
    train_parser = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "train" in a.choices)
    helps = {a.dest: a.help for a in train_parser.choices["train"]._actions}
    defaults = TrainConfig(gan="x")
    for dest in ("seed", "log_every", "checkpoint_every", "device", "workers"):
        stated = re.search(r"default:? ([\w.]+)", helps[dest]).group(1)
        assert stated == str(getattr(defaults, dest)), (dest, helps[dest])


def test_dry_run_is_a_derived_config_and_leaves_the_arguments_alone():
    args = _args("pattern1010", "--dry-run")
    before = dict(vars(args))
    entry = get_gan_entry("pattern1010")
    cfg = dry_run_config(train_config(args), entry)
    assert vars(args) == before
    assert (cfg.dataset, cfg.steps, cfg.log_every, cfg.batch_size) == ("fake", 2, 1, 2)
    assert cfg.overrides == {"pretrain_d_steps": "2"}
    given = dry_run_config(train_config(_args("pattern1010", "--set", "pretrain_d_steps=5", "--steps", "3")), entry)
    assert given.overrides == {"pretrain_d_steps": "5"} and given.steps == 3
    assert json.loads(json.dumps(given.overrides)) == given.overrides
