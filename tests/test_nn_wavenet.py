"""Tests of `genaug.nn.wavenet`: causality over time and channels, the receptive field, shapes,
conditioning, and fast (queue) generation that draws exactly the samples of the naive one."""

from __future__ import annotations

import pytest
import torch

from genaug.nn.wavenet import WaveNet

P = 8  # levels of the categorical in these tests


def small(channels: int = 1, cond_dim: int = 2, **kw) -> WaveNet:
    torch.manual_seed(0)
    kw = {"residual": 8, "skip": 8, "layers": 5, "cycle": 3, "head": 8} | kw
    return WaveNet(channels, P, cond_dim=cond_dim, **kw).double().eval()


def gumbel_draw(seed: int, record: list[torch.Tensor]):
    """A categorical over P bin centres in [-1, 1] by Gumbel-max, with its own seeded generator."""
    g = torch.Generator().manual_seed(seed)

    def draw(params: torch.Tensor) -> torch.Tensor:
        record.append(params.clone())
        u = torch.rand(params.shape, generator=g, dtype=params.dtype).clamp(1e-12, 1.0 - 1e-7)
        k = (params - torch.log(-torch.log(u))).argmax(-1)
        return (k + 0.5) / P * 2.0 - 1.0

    return draw


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("cond_dim", [0, 3])
def test_forward_shapes_and_gradients(channels, cond_dim):
    net = small(channels, cond_dim).train()
    x, cond = torch.rand(4, channels, 21, dtype=torch.float64) * 2 - 1, torch.randn(4, cond_dim, dtype=torch.float64)
    out = net(x, cond)
    assert out.shape == (4, channels, 21, P) and out.dtype == torch.float64
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_receptive_field():
    assert WaveNet(1, 256, cond_dim=0).receptive_field == 2 + 1023  # layers=10, cycle=10
    net = small(layers=5, cycle=3)  # dilations 1, 2, 4, 1, 2
    assert net.receptive_field == 2 + 10
    rf, t = net.receptive_field, 20
    x = torch.randn(1, 1, t + 1, dtype=torch.float64, requires_grad=True)
    net(x, torch.zeros(1, 2, dtype=torch.float64))[0, 0, t].sum().backward()
    seen = x.grad[0, 0].abs() > 0
    assert seen[t - rf : t].all() and not seen[: t - rf].any() and not seen[t:].any()


@pytest.mark.parametrize("channels", [1, 3])
def test_causal_over_time_and_channels(channels):
    """Output (c, t) depends on input (c', t') iff t' < t, or t' == t and c' < c (through the head)."""
    net, t = small(channels), 9
    x, cond = torch.randn(2, channels, t, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: net(v, cond).sum(-1), x)  # (N, C, T, N, C, T)
    dep = jac.abs().sum((0, 3)) > 0  # (C, T, C', T')
    times, chans = torch.arange(t), torch.arange(channels)
    earlier_time = times[None, :, None, None] > times[None, None, None, :]
    same_time_earlier_channel = (times[None, :, None, None] == times[None, None, None, :]) & (
        chans[:, None, None, None] > chans[None, None, :, None]
    )
    allowed = earlier_time | same_time_earlier_channel  # (C, T, C', T')
    assert not dep[~allowed].any()
    assert dep[allowed].all()  # t < receptive field here: every allowed input is seen
    # the trunk alone never sees time t: channels of the same step only enter through the head
    jac = torch.autograd.functional.jacobian(lambda v: net.features(v.transpose(1, 2), cond).sum(-1), x)
    dep = jac.abs().sum((0, 3)) > 0  # (T, C', T')
    assert not (dep & (times[:, None, None] <= times[None, None, :])).any()


def test_conditioning_changes_outputs():
    net = small(cond_dim=3)
    x = torch.rand(2, 1, 16, dtype=torch.float64)
    a, b = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    assert not torch.allclose(net(x, a), net(x, b))
    assert torch.equal(net(x, a), net(x, a))


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("cond_dim", [0, 3])
def test_fast_sampling_equals_naive_float64(channels, cond_dim):
    net, n = small(channels, cond_dim), 3  # 3 rows: matrix products run in BLAS edge kernels unless padded
    cond = torch.randn(n, cond_dim, dtype=torch.float64)
    fast_params, naive_params = [], []
    fast = net.sample(64, cond, gumbel_draw(1, fast_params))
    naive = net.sample_naive(64, cond, gumbel_draw(1, naive_params))
    assert fast.shape == (n, channels, 64) and fast.dtype == torch.float64
    assert torch.equal(fast, naive)
    assert len(fast_params) == len(naive_params) == 64 * channels
    assert all(torch.equal(a, b) for a, b in zip(fast_params, naive_params))
    # and the draws saw exactly the conditionals the parallel pass gives for the finished sequences
    teacher = net(fast, cond).permute(2, 1, 0, 3).reshape(64 * channels, n, P)
    assert torch.equal(torch.stack(fast_params), teacher)
    assert len(fast.unique()) > 1


@pytest.mark.parametrize("channels", [1, 2])
def test_fast_sampling_matches_naive_float32(channels):
    net = small(channels).float()
    cond = torch.randn(5, 2)
    fast_params, naive_params = [], []
    fast = net.sample(64, cond, gumbel_draw(2, fast_params))
    naive = net.sample_naive(64, cond, gumbel_draw(2, naive_params))
    assert fast.dtype == torch.float32
    torch.testing.assert_close(fast, naive)
    torch.testing.assert_close(torch.stack(fast_params), torch.stack(naive_params))


def test_prompt_is_kept_and_continued_alike():
    net = small(2)
    cond = torch.randn(3, 2, dtype=torch.float64)
    first = torch.rand(3, 2, 10, dtype=torch.float64) * 2 - 1
    fast_params, naive_params = [], []
    fast = net.sample(30, cond, gumbel_draw(3, fast_params), first=first)
    naive = net.sample_naive(30, cond, gumbel_draw(3, naive_params), first=first)
    assert torch.equal(fast[:, :, :10], first) and torch.equal(fast, naive)
    assert len(fast_params) == 20 * 2


def test_long_sequence_wraps_every_queue():
    """Longer than the receptive field, so every ring buffer wraps around several times."""
    net = small(layers=4, cycle=4)  # dilations 1, 2, 4, 8
    cond = torch.randn(4, 2, dtype=torch.float64)
    t = 3 * net.receptive_field + 5
    assert torch.equal(net.sample(t, cond, gumbel_draw(4, [])), net.sample_naive(t, cond, gumbel_draw(4, [])))


def test_sampling_turns_dropout_off_and_restores_the_mode():
    net = small(dropout=0.5)
    cond = torch.randn(4, 2, dtype=torch.float64)
    expected = net.eval().sample(20, cond, gumbel_draw(5, []))
    net.train()
    assert torch.equal(net.sample(20, cond, gumbel_draw(5, [])), expected)
    assert torch.equal(net.sample_naive(20, cond, gumbel_draw(5, [])), expected)
    assert net.training


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"residual": 0}, "residual"),
        ({"layers": 0}, "layers"),
        ({"cycle": 0}, "cycle"),
        ({"head": 2.5}, "head"),
        ({"cond_dim": -1}, "cond_dim"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    kwargs = {"cond_dim": 0} | kwargs
    with pytest.raises(ValueError, match=name):
        WaveNet(1, P, **kwargs)


def test_bad_inputs_name_the_argument():
    net, draw = small(2, cond_dim=3), gumbel_draw(0, [])
    cond = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="x"):
        net(torch.zeros(2, 1, 5, dtype=torch.float64), cond)
    with pytest.raises(ValueError, match="cond"):
        net(torch.zeros(2, 2, 5, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="n_steps"):
        net.sample(0, cond, draw)
    with pytest.raises(ValueError, match="cond"):
        net.sample(5, torch.zeros(2, 1), draw)
    with pytest.raises(ValueError, match="first"):
        net.sample_naive(5, cond, draw, first=torch.zeros(2, 2, 6, dtype=torch.float64))
