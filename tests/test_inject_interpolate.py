"""LatentInterpolation: SamplePool samples decoded between the latents of two real records of a class."""

from __future__ import annotations

import pickle

import pytest
import torch

import genaug
from genaug.inject import LatentInterpolation, SamplePool


@pytest.fixture(scope="module")
def digits_flow(digits):
    return genaug.fit(digits, "flow", steps=5, train={"checkpoint_every": 0, "sample_every": 0, "progress": False})


def _two_per_class(digits):
    keep = torch.cat([torch.nonzero(digits.y == c).flatten()[:2] for c in range(10)])
    return digits.subset(keep)


def test_the_ends_of_the_range_give_back_the_anchors(digits_flow, digits):
    """A flow inverts exactly: t = 0 decodes the first record of the pair, t = 1 the second."""
    anchors = _two_per_class(digits)
    labels = [c for c in range(10) for _ in range(6)]
    for t in (0.0, 1.0):
        pool = SamplePool(digits_flow, batch_size=32, sampler=LatentInterpolation(anchors, low=t, high=t), prefetch=False)
        x, info = pool.take(labels)
        assert [p.label for p in info] == labels and x.dtype == digits.user_x().dtype
        for sample, c in zip(x, labels):
            own = anchors.user_x()[anchors.y == c]
            assert any(torch.equal(sample, a) for a in own)


def test_midpoints_join_two_different_records_of_the_class(digits_flow, digits):
    """With two records per class and t = 0.5 every sample of a class is the one midpoint of that pair."""
    anchors = _two_per_class(digits)
    pool = SamplePool(digits_flow, batch_size=16, sampler=LatentInterpolation(anchors, low=0.5, high=0.5), seed=3)
    x, _ = pool.take([4] * 10 + [7] * 10)
    for block, c in ((x[:10], 4), (x[10:], 7)):
        assert all(torch.equal(sample, block[0]) for sample in block)
        assert not any(torch.equal(block[0], a) for a in anchors.user_x()[anchors.y == c])


def test_same_seed_same_stream_and_the_pool_pickles_with_its_sampler(digits_flow, digits, tmp_path):
    digits_flow.save_pretrained(tmp_path / "flow")
    sampler = LatentInterpolation(_two_per_class(digits), low=-0.25, high=1.25)
    pool = SamplePool(tmp_path / "flow", batch_size=32, sampler=sampler, seed=1)
    first, _ = pool.take([1, 2, 3] * 5)
    again, _ = pickle.loads(pickle.dumps(SamplePool(tmp_path / "flow", batch_size=32, sampler=sampler, seed=1))).take([1, 2, 3] * 5)
    other, _ = SamplePool(tmp_path / "flow", batch_size=32, sampler=sampler, seed=2).take([1, 2, 3] * 5)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_bad_samplers_are_refused_when_the_pool_is_built(digits_flow, digits, digits_gmm_dir):
    with pytest.raises(ValueError, match="sampler: latent interpolation needs a family with an encoder .* 'gmm'"):
        SamplePool(digits_gmm_dir, sampler=LatentInterpolation(digits))
    no_nines = digits.subset(torch.nonzero(digits.y != 9).flatten())
    with pytest.raises(ValueError, match=r"anchors: every class of the model needs an anchor record; none for \['9'\]"):
        SamplePool(digits_flow, sampler=LatentInterpolation(no_nines))
    with pytest.raises(ValueError, match="low, high: expected low <= high, got 1.0 > 0.0"):
        LatentInterpolation(digits, low=1.0, high=0.0)
    with pytest.raises(TypeError, match="anchors: expected an ArraySet"):
        LatentInterpolation(digits.x)
    bad = genaug.ArraySet(torch.full((2, 1, 8, 8), float("nan")), torch.tensor([0, 1]), digits.spec)
    with pytest.raises(ValueError, match="anchors: x contains NaN"):
        LatentInterpolation(bad)
    with pytest.raises(TypeError, match="sampler: expected a callable"):
        SamplePool(digits_flow, sampler="interpolate")
    with pytest.raises(ValueError, match=r"sampler: expected 32 samples of shape \(8, 8\), got \(1, 8, 8\)"):
        SamplePool(digits_flow, batch_size=32, sampler=lambda model, labels, generator: torch.zeros(1, 8, 8)).take([0])
