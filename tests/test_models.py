"""The Generator contract, checked for every registered family on images and on vectors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

import genaug
from genaug.models.registry import get_family

# Tiny but real configurations: a few steps, enough to exercise every hook.
TINY = {
    "gmm": ({"n_components": 2}, {"steps": 5}),
    "vae": ({"latent_dim": 4, "channels": 8, "hidden": 32, "iw_samples": 4}, {"steps": 20, "batch_size": 64}),
    "gan": ({"latent_dim": 8, "channels": 8, "hidden": 32, "label_dim": 8}, {"steps": 20, "batch_size": 32}),  # TINY-gan
    "flow": ({"scales": 2, "flow_steps": 2, "channels": 8, "label_dim": 4}, {"steps": 20}),  # TINY-flow
    "pixelcnn": ({"channels": 8, "layers": 2, "head": 16, "hidden": 16}, {"steps": 20, "batch_size": 64}),  # TINY-pixelcnn
    "diffusion": ({"channels": 8, "blocks": 1, "hidden": 32, "depth": 1, "sample_steps": 5}, {"steps": 20, "batch_size": 64}),  # TINY-diffusion
    "wavenet": ({"residual": 8, "skip": 8, "layers": 3, "cycle": 3, "head": 8}, {"steps": 20, "batch_size": 64}),  # TINY-wavenet
    "charlm": ({"embed": 8, "residual": 8, "skip": 8, "head": 16}, {"steps": 20}),  # text only: tests/test_text.py
}


def test_every_family_has_a_tiny_config():
    # image-to-image families fit pairs, not plain data: their contract tests are tests/test_image2image.py,
    # tests/test_palette.py and tests/test_cyclegan.py
    from genaug.models.image2image import ImageToImage

    assert sorted(TINY) == [f for f in genaug.families() if not issubclass(get_family(f), ImageToImage)]


@pytest.fixture(scope="module", params=["digits", "wine"])
def data(request):
    return genaug.load_source(request.param)


@pytest.fixture(scope="module", params=sorted(TINY))
def fitted(request, data, tmp_path_factory):
    config, train = TINY[request.param]
    models = get_family(request.param).modalities
    if models is not None and data.spec.modality not in models:
        pytest.skip(f"{request.param} models {models} only (its contract tests live in tests/test_modalities.py, tests/test_text.py)")
    out = tmp_path_factory.mktemp(f"{request.param}-{data.spec.modality}")
    model = genaug.fit(data, request.param, out=out, train={**train, "checkpoint_every": 0, "sample_every": 0}, **config)
    return model, out, data


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_samples_look_like_the_data(fitted):
    model, _, data = fitted
    real = data.user_x()
    x = model.sample(50, generator=gen(0))
    assert x.dtype == real.dtype and x.shape[1:] == real.shape[1:] and len(x) == 50
    spec = data.spec
    if spec.scaling == "grid":
        lo, hi = spec.value_range
        assert x.min() >= lo and x.max() <= hi
        assert torch.equal(x, torch.round(x))  # digits: integers 0..16
    else:
        lo = torch.tensor(spec.feature_min, dtype=x.dtype)
        hi = torch.tensor(spec.feature_max, dtype=x.dtype)
        assert (x >= lo).all() and (x <= hi).all()


def test_same_seed_same_samples_other_seed_other_samples(fitted):
    model, _, _ = fitted
    a, b, c = (model.sample(20, labels=1, generator=gen(s)) for s in (7, 7, 8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_labels_are_resolved_as_asked(fitted):
    model, _, data = fitted
    names = data.spec.class_names
    assert model.resolve_labels(4, 1).tolist() == [1, 1, 1, 1]
    assert model.resolve_labels(3, names[2]).tolist() == [2, 2, 2]
    assert model.resolve_labels(3, [0, names[1], 0]).tolist() == [0, 1, 0]
    drawn = model.resolve_labels(4000, None, generator=gen(0))
    share = torch.bincount(drawn, minlength=data.spec.num_classes).float() / 4000
    prior = torch.tensor(data.spec.class_counts, dtype=torch.float32)
    torch.testing.assert_close(share, prior / prior.sum(), atol=0.03, rtol=0)


def test_save_load_round_trip(fitted, tmp_path):
    model, out, data = fitted
    loaded = genaug.load(out)
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.spec == model.spec
    assert torch.equal(model.sample(16, generator=gen(1)), loaded.sample(16, generator=gen(1)))
    if model.has_likelihood:
        z, y = data.x[:32], data.y[:32]
        torch.testing.assert_close(model.log_prob(z, y), loaded.log_prob(z, y))
    model.save_pretrained(tmp_path / "again")
    assert model.fingerprint() == genaug.load(tmp_path / "again").fingerprint()


def test_pickles_for_dataloader_workers(fitted):
    model, _, _ = fitted
    clone = pickle.loads(pickle.dumps(model))
    assert torch.equal(model.sample(8, generator=gen(2)), clone.sample(8, generator=gen(2)))


def test_log_prob_is_finite_and_shaped(fitted):
    model, _, data = fitted
    z, y = data.x[:40], data.y[:40]
    if not model.has_likelihood:
        with pytest.raises(NotImplementedError, match="no tractable likelihood"):
            model.log_prob(z, y)
        return
    conditional, marginal = model.log_prob(z, y), model.log_prob(z)
    assert conditional.shape == marginal.shape == (40,)
    assert torch.isfinite(conditional).all() and torch.isfinite(marginal).all()
    # log p(z) = log sum_c p(c) p(z|c) >= log p(y) + log p(z|y); equality up to bound slack for a bound
    prior = model.class_prior[y].log()
    assert (marginal >= conditional + prior - 1e-3).all()


def test_encoder_round_trip_shapes(fitted):
    model, _, data = fitted
    z, y = data.x[:6], data.y[:6]
    if not model.has_encoder:
        with pytest.raises(NotImplementedError, match="no encoder"):
            model.encode(z, y)
        return
    latent = model.encode(z, y)
    assert latent.ndim == 2 and len(latent) == 6
    assert model.decode(latent, y).shape == z.shape


def test_bad_inputs_raise_clear_errors(fitted):
    model, _, data = fitted
    z, y = data.x[:4], data.y[:4]
    with pytest.raises(ValueError, match="n: expected a non-negative integer"):
        model.sample(-1)
    with pytest.raises(ValueError, match="unknown class"):
        model.sample(2, labels=99)
    with pytest.raises(ValueError, match="expected 3 labels"):
        model.sample(3, labels=[0, 1])
    if model.has_likelihood:
        with pytest.raises(ValueError, match="expected a model-space tensor of shape"):
            model.log_prob(z.flatten(1)[:, :3], y)
        with pytest.raises(ValueError, match="NaN"):
            model.log_prob(torch.full_like(z, float("nan")), y)
        with pytest.raises(ValueError, match="class indices must lie in"):
            model.log_prob(z, torch.full_like(y, data.spec.num_classes))


def test_create_refuses_unknown_family_and_config_keys():
    spec = genaug.load_source("digits").spec
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        genaug.create("nope", spec)
    for family in genaug.families():
        with pytest.raises(ValueError, match="not_a_field"):
            genaug.create(family, spec, not_a_field=1)


def test_load_reports_missing_and_corrupt_files(fitted, tmp_path):
    model, _, _ = fitted
    folder = tmp_path / "m"
    with pytest.raises(FileNotFoundError, match="no config.json"):
        genaug.load(folder)
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())

    (folder / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="corrupt config file"):
        genaug.load(folder)
    (folder / "config.json").write_text(json.dumps({**config, "family": "nope"}))
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        genaug.load(folder)
    (folder / "config.json").write_text(json.dumps(config))

    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ValueError, match="corrupt weights file"):
        genaug.load(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="corrupt weights file"):
        genaug.load(folder)


def test_load_refuses_weights_of_another_config(fitted, tmp_path):
    model, _, data = fitted
    other_config, _ = TINY[model.family]
    bigger = {k: v * 2 if isinstance(v, int) and k != "iw_samples" else v for k, v in other_config.items()}
    other = genaug.create(model.family, data.spec, **bigger)
    other.save_pretrained(tmp_path / "other")
    config = json.loads((tmp_path / "other" / "config.json").read_text())
    config["config"] = model.config.model_dump(mode="json")
    (tmp_path / "other" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="weights do not match"):
        genaug.load(tmp_path / "other")


def test_save_is_atomic_when_writing_fails(fitted, tmp_path, monkeypatch):
    model, out, _ = fitted
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    before = (folder / "model.safetensors").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", explode)  # what genaug.utils.io.save_weights writes with
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(folder)
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_saved_files_get_the_permissions_of_a_plain_write(fitted, tmp_path):
    import os

    model, _, _ = fitted
    old = os.umask(0o022)
    try:
        model.save_pretrained(tmp_path / "m")
    finally:
        os.umask(old)
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "m" / name).stat().st_mode & 0o777 == 0o644, name  # mkstemp alone would leave 0600


def test_capabilities_are_declared_consistently():
    for name in genaug.families():
        cls = get_family(name)
        assert cls.family == name
        if cls.likelihood_is_bound:
            assert cls.has_likelihood


def test_sampling_options_are_what_sample_accepts():
    """``sampling_options()`` lists a family's per-call options from its class; each is accepted, others refused by name."""
    expected = {"gmm": [], "vae": ["temperature"], "flow": ["temperature"], "wavenet": ["guidance", "naive", "temperature"], "pixelcnn": ["guidance", "temperature"],
                "diffusion": ["clip_x0", "eta", "guidance", "sample_steps"], "palette": ["clip_x0", "eta", "guidance", "sample_steps"],
                "rescnn": ["self_ensemble"], "charlm": ["guidance", "prefix", "temperature", "top_k", "top_p"]}
    for name, options in expected.items():
        cls = get_family(name)
        assert cls.sampling_options() == options, name
        cls.check_sampling_options(dict.fromkeys(options))
    with pytest.raises(TypeError, match=r"guidanse: not a sampling option of the 'diffusion' family \(did you mean 'guidance'\?\); it takes \['clip_x0'"):
        get_family("diffusion").check_sampling_options({"guidanse": 3.0})
    with pytest.raises(TypeError, match=r"1, temprature: not a sampling option of the 'vae' family \(did you mean 'temperature'\?\)"):
        get_family("vae").check_sampling_options({1: 0.5, "temprature": 0.5})  # keys of any type are named, not compared
    with pytest.raises(TypeError, match=r"temperature: not a sampling option of the 'gmm' family; it takes none"):
        get_family("gmm").check_sampling_options({"temperature": 0.5})


def real_digit_classifier():
    from sklearn.linear_model import LogisticRegression

    data = genaug.load_source("digits")
    x = data.user_x().reshape(len(data), -1).numpy()
    return LogisticRegression(max_iter=3000).fit(x, data.y.numpy())


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vae", "gmm"])
def test_class_conditional_samples_are_recognised(family):
    """A classifier trained on real digits labels >= 85% of class-conditional samples as asked."""
    model = genaug.fit("digits", family)  # the default configuration and budget
    labels = torch.arange(10).repeat_interleave(50)
    x = model.sample(500, labels=labels, generator=gen(0)).reshape(500, -1).numpy()
    accuracy = float(np.mean(real_digit_classifier().predict(x) == labels.numpy()))
    assert accuracy >= 0.85, accuracy


def test_a_model_folder_is_a_hub_repository(digits_gmm_dir, tmp_path, monkeypatch):
    """``from_pretrained`` reads a local folder through huggingface_hub's mixin; ``push_to_hub`` uploads what ``save_pretrained`` writes."""
    from genaug.models.gmm import GaussianMixture
    from genaug.models.vae import VAE

    model = genaug.Generator.from_pretrained(digits_gmm_dir)
    assert isinstance(model, GaussianMixture) and model.fingerprint() == genaug.load(digits_gmm_dir).fingerprint()
    assert GaussianMixture.from_pretrained(str(digits_gmm_dir)).family == "gmm"
    with pytest.raises(ValueError, match="holds a 'gmm' model, not a 'vae' one"):
        VAE.from_pretrained(digits_gmm_dir)
    pushed = {}

    def fake_push(self, repo_id, **kwargs):  # no network here: record what would go up
        folder = tmp_path / "staged"
        self.save_pretrained(folder)
        pushed.update(repo_id=repo_id, files=sorted(p.name for p in folder.iterdir()))
        return "https://hub/commit"

    monkeypatch.setattr(genaug.Generator, "push_to_hub", fake_push)
    assert model.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="me/digits-gmm") == "https://hub/commit"
    assert pushed == {"repo_id": "me/digits-gmm", "files": ["config.json", "model.safetensors"]}
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == ["config.json", "model.safetensors"]


def test_no_config_number_takes_inf_or_nan():
    """Every family's config and the Trainer's refuse an infinite or NaN number by its field's name (an infinite
    diffusion eta drew NaN samples, an infinite learning rate trains to NaN)."""
    from pydantic import ValidationError

    from genaug.models.registry import families
    from genaug.train.config import TrainConfig

    checked = 0
    for cls in [get_family(f).config_class for f in families()] + [TrainConfig]:
        for name, field in cls.model_fields.items():
            if "float" not in str(field.annotation):
                continue
            for bad in (float("inf"), float("-inf"), float("nan")):
                with pytest.raises(ValidationError, match=name):
                    cls(**{name: bad})
            checked += 1
    assert checked > 40
