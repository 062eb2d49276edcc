"""Every registered GAN, parametrised over the registry: shapes, ranges, gradients, parameter
counts against the seed's own layer definitions, one training step, and a CLI dry run."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from gans.data import load_data
from gans.models import build_gan, list_gans, train_step
from gans.models.core import get_gan_entry

SEED_FIVE = ["pattern1010", "mnist_mlp", "celeba_mlp", "celeba_conv", "dcgan"]


def _inputs(gan, n: int):
    z = gan.latent(n, device=torch.device("cpu"))
    labels = gan.sample_labels(n, device=torch.device("cpu")) if gan.conditional else None
    return z, labels


def test_registry_holds_the_seed_five():
    assert set(SEED_FIVE) <= set(list_gans())


@pytest.mark.parametrize("name", list_gans())
def test_output_shape_and_range(name):
    torch.manual_seed(0)
    gan = build_gan(name)
    x = gan.sample(3)
    assert x.shape == (3, *gan.data_shape)
    assert torch.isfinite(x).all()
    if len(gan.data_shape) == 3 and gan.value_range is not None:  # images come back in [0, 1]
        assert x.min() >= 0.0 and x.max() <= 1.0
    if gan.kind == "probability":
        labels = gan.sample_labels(3) if gan.conditional else None
        p = gan.d_prob(gan.prepare(x), labels)
        assert p.shape == (3,) and ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("name", list_gans())
def test_gradients_reach_z(name):
    torch.manual_seed(0)
    gan = build_gan(name)
    # one full update cycle first: segan's residual G starts as the exact identity (zero last
    # layer), through which z has no effect until G has taken a step
    x, _ = next(load_data("fake", gan.data_shape).epoch(2, 0, device=torch.device("cpu")))
    for step in range(max(ph.every for ph in gan.phases())):
        train_step(gan, gan.prepare(x), gan.sample_labels(2) if gan.conditional else None, step=step)
    z, labels = _inputs(gan, 2)
    z.requires_grad_(True)
    fake = gan.generate(z, labels)
    # through D as in the G phase: the generator's loss must send gradient back to z
    score = gan.d_logits(fake, labels)
    score.sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list_gans())
def test_one_training_step_changes_both_nets(name):
    torch.manual_seed(0)
    gan = build_gan(name)
    data = load_data("fake", gan.data_shape)
    x, _ = next(data.epoch(2, 0, device=torch.device("cpu")))
    labels = gan.sample_labels(2) if gan.conditional else None
    before_g = [p.detach().clone() for p in gan.G.parameters()]
    before_d = [p.detach().clone() for p in gan.D.parameters()]
    every = max(ph.every for ph in gan.phases())
    for step in range(every):  # WGAN's G phase runs every n_critic steps
        scalars = train_step(gan, gan.prepare(x), labels, step=step)
    assert all(math.isfinite(float(v)) for v in scalars.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, gan.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, gan.D.parameters()))
    for key in ("loss/d", "loss/g", "d/real", "d/fake"):
        assert key in scalars or any(k.startswith(key) for k in scalars), key


def _plain_step(gan, real, labels, step):
    """The update with nothing skipped: every phase backpropagates into both nets' weights."""
    from gans.models.core import StepContext

    ctx = StepContext(real=real, labels=labels, step=step)
    for phase in gan.cached_phases():
        if phase.every > 1 and step % phase.every != phase.every - 1:
            continue
        opt = gan.opt_d if phase.net == "D" else gan.opt_g
        opt.zero_grad(set_to_none=True)
        phase.loss(ctx).backward()
        opt.step()
        if phase.after is not None:
            phase.after()


@pytest.mark.parametrize("name", list_gans())
def test_skipping_the_idle_nets_gradients_changes_no_update(name):
    """train_step freezes D's weights in G phases (and seed_bce_phases draws G(z1) without a graph);
    every weight must still end bit for bit where the plain update puts it."""
    # narrower nets of the same architecture (two copies of the full celeba_mlp with Adam took 1.4 GB)
    overrides = {
        "segan": {"window": 1024},
        "celeba_conv": {"channels": 32},
        "celeba_mlp": {"hidden_g": 30, "hidden_d": 10},
    }.get(name)
    gans = []
    for _ in range(2):
        torch.manual_seed(0)
        gans.append(build_gan(name, overrides))
    fast, plain = gans
    x, _ = next(load_data("fake", fast.data_shape).epoch(4, 0, device=torch.device("cpu")))
    torch.manual_seed(1)
    labels = fast.sample_labels(4) if fast.conditional else None
    steps = 2 * max(ph.every for ph in fast.phases())
    torch.manual_seed(2)
    for step in range(steps):
        train_step(fast, fast.prepare(x), labels, step=step)
    torch.manual_seed(2)
    for step in range(steps):
        _plain_step(plain, plain.prepare(x), labels, step)
    for (n, a), b in zip(fast.named_parameters(), plain.parameters()):
        assert torch.equal(a, b), n
    assert all(p.requires_grad for p in fast.parameters())  # the freeze is undone


def test_g_phase_computes_no_gradient_for_d():
    torch.manual_seed(0)
    gan = build_gan("mnist_mlp")
    x, _ = next(load_data("fake", gan.data_shape).epoch(4, 0, device=torch.device("cpu")))
    computed = {"D": 0, "G": 0}
    for net, module in (("D", gan.D), ("G", gan.G)):
        for p in module.parameters():
            p.register_hook(lambda g, net=net: computed.__setitem__(net, computed[net] + 1))
    train_step(gan, gan.prepare(x))
    n_d, n_g = len(list(gan.D.parameters())), len(list(gan.G.parameters()))
    assert computed == {"D": 2 * n_d, "G": n_g}  # D: its two phases only; G: its own phase only


# ---- parameter counts against the seed's own layer definitions, written out as in the notes ----


def _count(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _seed_layers(name: str) -> tuple[int, int]:
    """(G, D) parameter counts of the course notes' layers, transcribed literally."""
    if name == "pattern1010":
        G = nn.Sequential(nn.Linear(1, 3), nn.Sigmoid(), nn.Linear(3, 4), nn.Sigmoid())
        D = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())
    elif name == "mnist_mlp":
        G = nn.Sequential(nn.Linear(100, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 784), nn.Sigmoid())
        D = nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 1), nn.Sigmoid())
    elif name == "celeba_mlp":
        D = nn.Sequential(
            nn.Linear(3 * 218 * 178, 100), nn.LeakyReLU(), nn.LayerNorm(100), nn.Linear(100, 1), nn.Sigmoid()
        )
        G = nn.Sequential(
            nn.Linear(100, 3 * 10 * 10),
            nn.LeakyReLU(),
            nn.LayerNorm(3 * 10 * 10),
            nn.Linear(3 * 10 * 10, 3 * 218 * 178),
            nn.Sigmoid(),
        )
    elif name == "celeba_conv":
        D = nn.Sequential(
            nn.Conv2d(3, 256, 8, 2),
            nn.BatchNorm2d(256),
            nn.GELU(),
            nn.Conv2d(256, 256, 8, 2),
            nn.BatchNorm2d(256),
            nn.GELU(),
            nn.Conv2d(256, 3, 8, 2),
            nn.GELU(),
            nn.Linear(3 * 10 * 10, 1),
            nn.Sigmoid(),
        )
        G = nn.Sequential(
            nn.Linear(100, 3 * 11 * 11),
            nn.GELU(),
            nn.ConvTranspose2d(3, 256, 8, 2),
            nn.BatchNorm2d(256),
            nn.GELU(),
            nn.ConvTranspose2d(256, 256, 8, 2),
            nn.BatchNorm2d(256),
            nn.GELU(),
            nn.ConvTranspose2d(256, 3, 8, 2, padding=1),
            nn.BatchNorm2d(3),
            nn.Sigmoid(),
        )
    elif name == "dcgan":
        D = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(0.2),
            nn.Conv2d(256, 512, 4, 2, 1, bias=False),
            nn.BatchNorm2d(512),
            nn.LeakyReLU(0.2),
            nn.Conv2d(512, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )
        G = nn.Sequential(
            nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False),
            nn.BatchNorm2d(512),
            nn.ReLU(),
            nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )
    else:
        raise KeyError(name)
    return _count(G), _count(D)


@pytest.mark.parametrize("name", SEED_FIVE)
def test_parameter_counts_match_the_seed(name):
    gan = build_gan(name)
    assert (_count(gan.G), _count(gan.D)) == _seed_layers(name)


@pytest.mark.parametrize("name", SEED_FIVE)
def test_seed_training_defaults(name):
    """The seed's optimisers and learning rates are the defaults."""
    gan = build_gan(name)
    expected = {
        "pattern1010": (torch.optim.SGD, 0.01, None, 1, 10000),
        "mnist_mlp": (torch.optim.Adam, 1e-4, (0.9, 0.999), 96, 50),
        "celeba_mlp": (torch.optim.Adam, 1e-4, (0.9, 0.999), 1, 8),
        "celeba_conv": (torch.optim.Adam, 1e-4, (0.9, 0.999), 1, 8),
        "dcgan": (torch.optim.Adam, 1e-4, (0.5, 0.999), 8, 40),
    }[name]
    cls, lr, betas, bs, epochs = expected
    for opt in (gan.opt_d, gan.opt_g):
        assert isinstance(opt, cls)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr)
        if betas:
            assert tuple(opt.param_groups[0]["betas"]) == betas
    entry = get_gan_entry(name).cls
    assert (entry.default_batch_size, entry.default_epochs) == (bs, epochs)


def test_dcgan_init_is_the_seeds():
    torch.manual_seed(0)
    gan = build_gan("dcgan")
    convs = [m for m in gan.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.mean().item()) < 1e-3 and w.std().item() == pytest.approx(0.02, rel=0.05)
    bns = [m for m in gan.modules() if isinstance(m, nn.BatchNorm2d)]
    assert torch.cat([m.weight for m in bns]).mean().item() == pytest.approx(1.0, abs=0.01)
    assert all((m.bias == 0).all() for m in bns)


def test_dcgan_g_step_reuses_the_d_steps_fake_batch():
    """The anime DCGAN's quirk: one D step on the summed loss, G reuses the same G(z)."""
    torch.manual_seed(0)
    gan = build_gan("dcgan")
    calls = []
    orig = gan.G.forward
    gan.G.forward = lambda z: (calls.append(z.shape[0]), orig(z))[1]
    x, _ = next(load_data("fake", gan.data_shape).epoch(2, 0, device=torch.device("cpu")))
    train_step(gan, gan.prepare(x))
    assert len(calls) == 1  # one G forward per step
    gan2 = build_gan("dcgan", {"fresh_z_for_g": True})
    calls.clear()
    orig2 = gan2.G.forward
    gan2.G.forward = lambda z: (calls.append(z.shape[0]), orig2(z))[1]
    train_step(gan2, gan2.prepare(x))
    assert len(calls) == 2


def test_mlp_schedule_takes_two_d_steps_then_g():
    gan = build_gan("mnist_mlp")
    assert [(p.name, p.net) for p in gan.phases()] == [("d_real", "D"), ("d_fake", "D"), ("g", "G")]


@pytest.mark.parametrize("name", ["celeba_mlp", "celeba_conv"])
def test_batch_one_seeds_run_at_any_batch_size(name):
    torch.manual_seed(0)
    gan = build_gan(name)
    x, _ = next(load_data("fake", gan.data_shape).epoch(3, 0, device=torch.device("cpu")))
    scalars = train_step(gan, gan.prepare(x))
    assert math.isfinite(float(scalars["loss/g"]))


def test_pattern1010_quirks_are_switchable():
    gan = build_gan("pattern1010")
    assert torch.equal(gan.latent(3), torch.full((3, 1), 0.5))
    g2 = build_gan("pattern1010", {"latent": "uniform"})
    z = g2.latent(64)
    assert z.min() >= 0 and z.max() <= 1 and z.std() > 0.1
    # fixed real sample: every step trains on the first sample it saw
    data = load_data("pattern1010", (4,))
    batches = [x for x, _ in (next(data.epoch(1, e, device=torch.device("cpu"))) for e in range(3))]
    assert not torch.equal(batches[0], batches[1])
    gan = build_gan("pattern1010", {"pretrain_d_steps": 0})
    for x in batches:
        train_step(gan, gan.prepare(x))
    assert torch.equal(gan.fixed_real, batches[0][0])


@pytest.mark.parametrize("name", list_gans())
def test_cli_dry_run(name, tmp_path, capsys):
    """Every GAN's dry run through the CLI's entry point, in this process (the subprocess form, which
    also checks the console script, is tested once in test_families_extra). celeba_conv runs at width 32:
    its seed width costs ~15 s for two CPU steps and adds nothing to what a dry run checks."""
    from ganbench.cli import main

    extra = ["--set", "channels=32"] if name == "celeba_conv" else []
    rc = main(["train", name, "--dry-run", "--quiet", "--no-diagnostics", "--out", str(tmp_path / "run"), *extra])
    out, err = capsys.readouterr()
    assert rc == 0, err[-2000:]
    assert (tmp_path / "run" / "config.json").is_file()
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert "finished" in out


@pytest.mark.parametrize("given,expected", [([], 2), (["--set", "pretrain_d_steps=5"], 5)])
def test_dry_run_shortens_warm_up_schedules_unless_set(tmp_path, capsys, given, expected):
    import json

    from ganbench.cli import main

    out = tmp_path / "run"
    rc = main(["train", "pattern1010", "--dry-run", "--quiet", "--no-diagnostics", "--out", str(out), *given])
    assert rc == 0, capsys.readouterr().err[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["gan_config"]["pretrain_d_steps"] == expected
    assert get_gan_entry("pattern1010").default_config().pretrain_d_steps == 10000  # only the dry run is short
