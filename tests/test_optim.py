"""FusedAdam: Adam(fused=True) with a direct call to its kernel, bit for bit the same updates."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from gans.models.core import FusedAdam


def _pair(seed: int = 0):
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(12, 8), nn.LeakyReLU(), nn.LayerNorm(8), nn.Linear(8, 1))
    b = nn.Sequential(nn.Linear(12, 8), nn.LeakyReLU(), nn.LayerNorm(8), nn.Linear(8, 1))
    b.load_state_dict(a.state_dict())
    return a, b


def _backward(net: nn.Module, x: torch.Tensor, skip_last_bias: bool = False) -> None:
    net(x).square().mean().backward()
    if skip_last_bias:
        net[3].bias.grad = None  # a parameter without a gradient this step


def _same(a: nn.Module, b: nn.Module, oa: torch.optim.Optimizer, ob: torch.optim.Optimizer) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
        sa, sb = oa.state[p], ob.state[q]
        assert sa.keys() == sb.keys(), name
        for k in sa:
            assert torch.equal(sa[k], sb[k]), (name, k)
            assert sa[k].dtype == sb[k].dtype and sa[k].device == sb[k].device, (name, k)


class _Count:
    """Counts calls that reach torch's own Adam.step (the fallback path)."""

    def __init__(self, monkeypatch):
        self.n = 0
        original = torch.optim.Adam.step

        def counted(opt, *args, **kwargs):
            self.n += 1
            return original(opt, *args, **kwargs)

        monkeypatch.setattr(torch.optim.Adam, "step", counted)


def test_direct_steps_equal_torch_fused_adam_bit_for_bit(monkeypatch):
    count = _Count(monkeypatch)
    ref_net, net = _pair()
    ref = torch.optim.Adam(ref_net.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)
    opt = FusedAdam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    torch.manual_seed(1)
    for i in range(12):
        x = torch.randn(16, 12)
        for o in (ref, opt):
            o.zero_grad(set_to_none=True)
        _backward(ref_net, x, skip_last_bias=(i == 5))
        _backward(net, x, skip_last_bias=(i == 5))
        if i == 8:  # a scheduler-style change of the learning rate is read on the next step
            for o in (ref, opt):
                o.param_groups[0]["lr"] = 3e-4
        before = count.n
        ref.step()
        ref_calls = count.n - before
        before = count.n
        opt.step()
        # the first step initialises the state and the step with a missing gradient needs
        # Adam's own handling; every other step takes the direct call
        assert count.n - before == (1 if i in (0, 5) else 0), i
        assert ref_calls == 1
        _same(ref_net, net, ref, opt)


def test_resume_from_either_state_dict_continues_identically():
    ref_net, net = _pair(3)
    ref = torch.optim.Adam(ref_net.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)
    opt = FusedAdam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    torch.manual_seed(4)
    xs = [torch.randn(8, 12) for _ in range(6)]
    for x in xs[:3]:
        for n, o in ((ref_net, ref), (net, opt)):
            o.zero_grad()
            _backward(n, x)
            o.step()
    # swap the saved states: FusedAdam resumes from Adam's state dict and the other way round
    ref_state, state = ref.state_dict(), opt.state_dict()
    ref = torch.optim.Adam(ref_net.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)
    opt = FusedAdam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    ref.load_state_dict(state)
    opt.load_state_dict(ref_state)
    for x in xs[3:]:
        for n, o in ((ref_net, ref), (net, opt)):
            o.zero_grad()
            _backward(n, x)
            o.step()
    _same(ref_net, net, ref, opt)
    assert float(opt.state[next(net.parameters())]["step"]) == 6.0


def test_cases_it_does_not_handle_go_through_adam_step(monkeypatch):
    count = _Count(monkeypatch)
    _, net = _pair()
    opt = FusedAdam(list(net[0].parameters()), lr=1e-3, betas=(0.5, 0.999))
    opt.add_param_group({"params": list(net[3].parameters())})  # two groups
    for _ in range(2):
        opt.zero_grad()
        _backward(net, torch.randn(4, 12))
        opt.step()
    assert count.n == 2
    calls = []
    loss = opt.step(closure=lambda: calls.append(1) or torch.zeros(()))  # a closure
    assert calls == [1] and count.n == 3 and loss is not None


@pytest.mark.parametrize("name", ["mnist_mlp", "dcgan", "wgan_gp"])
def test_the_gans_build_it(name):
    from gans.models import build_gan

    gan = build_gan(name)
    assert type(gan.opt_d) is FusedAdam and type(gan.opt_g) is FusedAdam


def test_the_gpu_checks_fused_adam_part_runs_on_any_device():
    """bench.gpu_check's FusedAdam part is written for CUDA; its logic runs here on the CPU."""
    from bench.gpu_check import fused_adam_check

    out = fused_adam_check("cpu", steps=5)
    assert out["ok"] and out["bit_identical"] and out["steps_compared"] == 5
    assert set(out["us_per_step"]) == {"torch_adam_fused", "ganbench_fused_adam"}
    assert all(v > 0 for v in out["us_per_step"].values())
