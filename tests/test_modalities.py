"""The modality contract: every family fits every modality it claims, a new modality is one class, and
code outside genaug/modalities never branches on a modality's name."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import genaug
from genaug.data import from_arrays
from genaug.modalities import Modality, get_modality, modalities, register_modality

ROOT = Path(genaug.__file__).parent
FAST = {  # a few steps of small nets: the contract, not the quality
    "gmm": {},
    "vae": {"channels": 4, "hidden": 16, "latent_dim": 4},
    "gan": {"channels": 4, "hidden": 16, "latent_dim": 4},
    "flow": {"channels": 4, "hidden": 8, "flow_steps": 2, "scales": 2},
    "pixelcnn": {"channels": 4, "layers": 2, "head": 8, "hidden": 16},
    "diffusion": {"channels": 4, "levels": 2, "hidden": 16, "depth": 1, "sample_steps": 3},
    "wavenet": {"residual": 4, "skip": 4, "layers": 3, "cycle": 3, "head": 8},
}


def _sequences(n: int = 40, channels: int = 2, length: int = 16) -> genaug.ArraySet:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, length)
    y = np.arange(n) % 2
    x = np.sin(t[None, None, :] * (1 + y[:, None, None]) + rng.normal(0, 0.1, (n, channels, 1))) + rng.normal(0, 0.05, (n, channels, length))
    return from_arrays(x, y, modality="sequence")


@pytest.mark.parametrize("family", sorted(FAST))
def test_every_family_fits_sequences_and_samples_them_in_the_users_form(family, tmp_path):
    data = _sequences()
    assert (data.spec.modality, data.spec.shape, data.spec.layout) == ("sequence", (2, 16), "CT")
    model = genaug.fit(data, family, steps=3, out=tmp_path, train={"checkpoint_every": 0, "batch_size": 16, "sample_every": 3}, **FAST[family])
    x = model.sample(6, labels=[0, 1, 0, 1, 0, 1], generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 2, 16) and x.dtype == torch.float64 and torch.isfinite(x).all()
    lo, hi = data.spec.value_range
    assert x.min() >= lo and x.max() <= hi
    again = genaug.load(tmp_path)
    torch.testing.assert_close(again.sample(6, labels=[0, 1, 0, 1, 0, 1], generator=torch.Generator().manual_seed(0)), x)
    assert (tmp_path / "samples").is_dir()  # line plots drawn by the sequence modality
    if model.has_likelihood:
        assert torch.isfinite(model.log_prob(data.x[:4], data.y[:4])).all()


def test_wavenet_samples_the_same_fast_and_naive_and_refuses_images(digits):
    data = from_arrays(_sequences().user_x().numpy(), np.arange(40) % 2, modality="sequence", levels=64)
    model = genaug.fit(data, "wavenet", steps=3, **FAST["wavenet"])
    labels = {"label": torch.tensor([0, 1, 1])}
    fast = model.sample_model(labels, generator=torch.Generator().manual_seed(5))
    naive = model.sample_model(labels, generator=torch.Generator().manual_seed(5), naive=True)
    assert torch.equal(fast, naive) and fast.shape == (3, 2, 16)
    bits = model.log_prob(data.x[:4], data.y[:4])
    assert torch.isfinite(bits).all()
    with pytest.raises(ValueError, match="models sequence data, not image data"):
        genaug.create("wavenet", digits.spec)


def test_sequences_need_declaring_and_layouts_are_read_both_ways():
    x = np.random.default_rng(0).normal(size=(10, 50, 3))
    assert from_arrays(x, modality="sequence").spec.layout == "TC"
    assert from_arrays(x.transpose(0, 2, 1), modality="sequence").spec.shape == (3, 50)
    assert from_arrays(x[:, :, 0], modality="sequence").spec.layout == "T"
    data = from_arrays(x, modality="sequence", layout="TC")
    torch.testing.assert_close(data.user_x(), torch.as_tensor(x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="sequence data needs"):
        from_arrays(np.zeros((4, 2, 3, 5)), modality="sequence")


@register_modality
class _Pairs(Modality):
    """A toy modality: each sample is a (2, K) pair of vectors, blocks by the flat defaults."""

    name = "toy-pairs"
    layouts = ("PK",)

    def infer_layout(self, shape):
        if len(shape) != 3 or shape[1] != 2:
            raise ValueError(f"x: toy pairs need shape (N, 2, K), got {shape}")
        return "PK"

    def check_shape(self, shape):
        if len(shape) != 2 or shape[0] != 2:
            raise ValueError(f"shape: toy pairs are (2, K), got {shape}")


@pytest.mark.parametrize("family", ["gmm", "vae"])
def test_a_modality_registered_here_is_fitted_by_a_family(family):
    assert "toy-pairs" in modalities()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2, 3)) + np.arange(60)[:, None, None] % 2
    data = from_arrays(x, np.arange(60) % 2, modality="toy-pairs")
    assert data.spec.shape == (2, 3) and data.spec.scaling == "standard"
    model = genaug.fit(data, family, steps=5, **FAST[family])
    samples = model.sample(8, labels=1, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (8, 2, 3)


def test_a_family_refuses_a_modality_it_does_not_model():
    class Only(genaug.Generator):
        family = "only-vectors-test"
        modalities = ("vector",)

    with pytest.raises(ValueError, match="models vector data, not sequence data"):
        Only(_sequences().spec)


def test_named_conditions_are_declared_batched_and_sampled():
    rng = np.random.default_rng(2)
    style = np.array(["thin", "bold"])[np.arange(80) % 2]
    x = rng.normal(size=(80, 4)) + (style == "bold")[:, None] * 3.0
    data = from_arrays(x, np.arange(80) % 4 // 2, conditions={"style": style})
    assert data.spec.conditions == {"style": {"kind": "categorical", "names": ["bold", "thin"]}}
    assert set(data.tensors()) == {"x", "label", "style"}
    model = genaug.fit(data, "vae", steps=200, hidden=32, latent_dim=2, train={"val_fraction": 0, "progress": False})
    bold = model.sample(200, labels=0, cond={"style": ["bold"] * 200}, generator=torch.Generator().manual_seed(0))
    thin = model.sample(200, labels=0, cond={"style": ["thin"] * 200}, generator=torch.Generator().manual_seed(0))
    assert bold.mean() > thin.mean() + 1.0  # the condition is used
    with pytest.raises(ValueError, match="conditioned on 'style'"):
        model.sample(4, labels=0)
    with pytest.raises(ValueError, match="cannot condition on"):
        genaug.create("gmm", data.spec)


def test_no_code_outside_the_modalities_branches_on_a_modality_name():
    names = set(modalities()) - {"toy-pairs"}
    offences = []
    for path in ROOT.rglob("*.py"):
        if "modalities" in path.relative_to(ROOT).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                parts = [node.left, *node.comparators]
                strings = {p.value for p in ast.walk(node) if isinstance(p, ast.Constant) and isinstance(p.value, str)}
                mentions = any(isinstance(p, ast.Attribute) and p.attr == "modality" or isinstance(p, ast.Name) and p.id == "modality" for q in parts for p in ast.walk(q))
                if strings & names or (mentions and strings):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offences, f"branches on a modality name outside genaug/modalities: {offences}"


def test_every_modality_draws_its_samples(tmp_path):
    for name in ("image", "vector", "sequence"):
        kind = get_modality(name)
        shape = {"image": (1, 8, 8), "vector": (5,), "sequence": (2, 20)}[name]
        spec = genaug.DataSpec(modality=name, shape=shape, class_names=("a",), layout=kind.layouts[0], scaling="range", value_range=(0.0, 1.0))
        z = torch.rand(6, *shape) * 2 - 1
        spec.save_samples(z, tmp_path / f"{name}.png", nrow=3)
        kind.save_pairs(spec, z[:3], z[3:], tmp_path / f"{name}-pairs.png", per_row=3)
        assert (tmp_path / f"{name}.png").stat().st_size > 100 and (tmp_path / f"{name}-pairs.png").stat().st_size > 100
    assert math.isclose(get_modality("vector").flow_lr_scale, 0.25)


def test_same_conv1d_matches_torchs_same_padding_without_its_even_kernel_warning():
    import warnings

    from genaug.modalities.sequence import FCN, SameConv1d

    x = torch.randn(3, 2, 17, generator=torch.Generator().manual_seed(0))
    for k in (8, 5, 3, 2):
        reference = torch.nn.Conv1d(2, 4, k, padding="same")
        conv = SameConv1d(2, 4, k)
        conv.load_state_dict(reference.state_dict())  # the same parameters, so saved weights still load
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = reference(x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the FCN's kernel of 8 made torch warn on every forward
            torch.testing.assert_close(conv(x), expected)
            assert FCN(2, 3, width=4)(x).shape == (3, 3)
