"""SamplePool and genaug.mix: batching, seeding, worker streams, pickling, filters, batch structure."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import genaug
from genaug.inject import SamplePool, mix


def test_pool_returns_user_space_samples_of_the_asked_classes_with_provenance(digits_gmm_dir, digits):
    pool = SamplePool(digits_gmm_dir, batch_size=32, seed=0)
    x, info = pool.take([3, 3, 7, "5"])
    assert x.shape == (4, 8, 8) and x.dtype == digits.user_x().dtype
    assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() <= 16
    assert [p.label for p in info] == [3, 3, 7, 5]
    model = genaug.load(digits_gmm_dir)
    assert {p.family for p in info} == {"gmm"} and {p.fingerprint for p in info} == {model.fingerprint()}
    # a class-3 sample is closer to the mean real 3 than to the mean real 7
    real = digits.user_x().double()
    mean3, mean7 = real[digits.y == 3].mean(0), real[digits.y == 7].mean(0)
    assert ((x[0].double() - mean3).norm() < (x[0].double() - mean7).norm()).item()


@pytest.mark.parametrize("prefetch", [False, True])
def test_pool_refills_a_class_in_one_batched_call(digits_gmm_dir, monkeypatch, prefetch):
    pool = SamplePool(digits_gmm_dir, batch_size=64, seed=0, prefetch=prefetch)
    calls = []
    original = pool.model.sample

    def counting(n, labels=None, **kwargs):
        calls.append((n, set(labels.tolist())))
        return original(n, labels, **kwargs)

    monkeypatch.setattr(pool.model, "sample", counting)
    pool.take([3] * 100)
    pool.wait()  # let the background refills finish before counting
    ahead = 1 if prefetch else 0  # the background thread has drawn class 3's next refill
    assert calls[:2] == [(64, {3}), (64, {3})] and len(calls) == 2 + ahead
    pool.take(list(range(10)))  # class 3 still has 28 queued; one call of 64 for each other class
    pool.wait()  # let the background refills finish before counting
    drawn = sorted(c for _, (c,) in calls)
    assert all(n == 64 for n, _ in calls) and drawn == sorted([3, 3] + [3] * ahead + [c for c in range(10) if c != 3] * (1 + ahead))


def test_a_class_stream_depends_on_the_seeds_only(digits_gmm_dir):
    """Not on prefetching, on the other classes asked for, or on how the labels were batched."""
    a = SamplePool(digits_gmm_dir, batch_size=16, seed=3, prefetch=False).take([5] * 40)[0]
    pool = SamplePool(digits_gmm_dir, batch_size=16, seed=3, prefetch=True)
    b = torch.cat([pool.take([5, 1, 2] * 4)[0][::3] for _ in range(10)])
    assert torch.equal(a, b)


def test_reuse_serves_every_sample_k_times_in_shuffled_passes(digits_gmm_dir):
    pool = SamplePool(digits_gmm_dir, batch_size=16, seed=0, reuse=3, prefetch=False)
    x, info = pool.take([4] * 48)
    assert len({p.seed for p in info}) == 1  # one refill served three times
    assert sorted(p.index for p in info) == sorted(list(range(16)) * 3)
    assert not torch.equal(x[:16], x[16:32])  # each pass in its own order
    assert pool.take([4])[1][0].seed != info[0].seed  # the 49th sample starts the next refill


def test_same_seed_same_stream_other_seed_other_stream(digits_gmm_dir):
    labels = [0, 1, 2, 3] * 20
    a, b, c = (SamplePool(digits_gmm_dir, batch_size=16, seed=s).take(labels)[0] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_filter_hook_keeps_only_accepted_samples_and_gives_up_clearly(digits_gmm_dir):
    def bright(x, labels):  # keep samples with a high total ink
        return x.reshape(len(x), -1).sum(1) > 300

    x, _ = SamplePool(digits_gmm_dir, batch_size=64, filter=bright).take([0] * 30)
    assert (x.reshape(30, -1).sum(1) > 300).all()
    never = SamplePool(digits_gmm_dir, batch_size=8, filter=lambda x, y: torch.zeros(len(x), dtype=torch.bool), max_attempts=3)
    with pytest.raises(RuntimeError, match=r"filter: rejected every sample of class 2 in 3 refills"):
        never.take([2])
    with pytest.raises(ValueError, match="filter: expected a mask of 8 booleans"):
        SamplePool(digits_gmm_dir, batch_size=8, filter=lambda x, y: torch.ones(3, dtype=torch.bool)).take([1])


def test_pool_pickles_as_its_folder_and_restarts_its_stream(digits_gmm_dir):
    pool = SamplePool(digits_gmm_dir, batch_size=16, seed=4)
    first, _ = pool.take([1, 2, 3])
    blob = pickle.dumps(pool)
    assert len(blob) < 20_000  # no weights inside: the worker reloads the folder
    clone = pickle.loads(blob)
    assert torch.equal(clone.take([1, 2, 3])[0], first)


def test_pool_passes_its_sampling_options_to_every_draw(tmp_path):
    """``options`` reach ``model.sample`` on every refill (and in a pickled copy); unknown ones are refused at once."""
    model = genaug.fit("digits", "vae", out=tmp_path, latent_dim=4, channels=8, hidden=32, train={"steps": 5, "checkpoint_every": 0, "sample_every": 0})
    plain = SamplePool(tmp_path, batch_size=32, seed=3, prefetch=False).take([2] * 32)[0]
    cold_pool = SamplePool(tmp_path, batch_size=32, seed=3, prefetch=False, options={"temperature": 0.05})
    cold = cold_pool.take([2] * 32)[0]
    expected = model.sample(32, labels=2, generator=torch.Generator().manual_seed(0), temperature=0.05)
    assert not torch.equal(plain, cold) and cold.shape == expected.shape
    # near the prior's mean: less spread between samples than at temperature 1
    assert cold.double().std(0).mean() < plain.double().std(0).mean()
    assert torch.equal(pickle.loads(pickle.dumps(cold_pool)).take([2] * 32)[0], cold)
    assert "options={'temperature': 0.05}" in repr(cold_pool)
    with pytest.raises(TypeError, match=r"temprature: not a sampling option of the 'vae' family \(did you mean 'temperature'\?\)"):
        SamplePool(tmp_path, options={"temprature": 0.0})
    with pytest.raises(TypeError, match="options: expected a mapping of sampling options"):
        SamplePool(tmp_path, options=[("temperature", 0.0)])
    with pytest.raises(ValueError, match="a custom sampler draws by itself"):
        SamplePool(tmp_path, options={"temperature": 0.0}, sampler=lambda model, labels, generator: model.sample(len(labels), labels=labels))


def test_bad_arguments_and_misfit_data_are_refused_at_construction(digits_gmm_dir):
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        SamplePool(digits_gmm_dir, batch_size=0)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        SamplePool(digits_gmm_dir / "missing")
    with pytest.raises(TypeError, match="model: expected a model folder or a genaug Generator"):
        SamplePool(42)
    pool = SamplePool(digits_gmm_dir)
    with pytest.raises(ValueError, match=r"holds vectors of shape \(13,\), the model makes images of shape \(1, 8, 8\)"):
        pool.check_fits(genaug.load_source("wine").spec)
    with pytest.raises(ValueError, match="unknown class"):
        pool.take([10])


class PoolDataset(Dataset):
    """Every item is a synthetic sample of class ``i % 10`` drawn in the worker that loads it."""

    def __init__(self, pool: SamplePool, n: int) -> None:
        self.pool, self.n = pool, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        x, _ = self.pool.take([i % 10])
        return x[0], i % 10


def worker_stream(digits_gmm_dir, seed: int) -> torch.Tensor:
    loader = DataLoader(
        PoolDataset(SamplePool(digits_gmm_dir, batch_size=8, seed=0), 40),
        batch_size=10,
        num_workers=2,
        multiprocessing_context="spawn",
        generator=torch.Generator().manual_seed(seed),
    )
    return torch.cat([x for x, _ in loader])


@pytest.mark.slow
def test_spawn_workers_reproduce_their_streams_and_differ_from_each_other(digits_gmm_dir):
    a, b, c = worker_stream(digits_gmm_dir, 0), worker_stream(digits_gmm_dir, 0), worker_stream(digits_gmm_dir, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # batches 0 and 1 come from workers 0 and 1 with the same labels 0..9: distinct streams
    assert not torch.equal(a[:10], a[10:20])


def test_mix_keeps_structure_and_labels_and_replaces_the_asked_share(digits_gmm_dir, digits):
    loader = DataLoader(TensorDataset(digits.user_x(), digits.y), batch_size=50)
    mixed = mix(loader, SamplePool(digits_gmm_dir, batch_size=256), ratio=0.3, seed=0)
    assert len(mixed) == len(loader)
    replaced = total = 0
    for (x, y), (x_real, y_real) in zip(mixed, loader):
        assert x.shape == x_real.shape and x.dtype == x_real.dtype and torch.equal(y, y_real)  # same-class swaps
        replaced += int((x != x_real).flatten(1).any(1).sum())
        total += len(y)
    assert abs(replaced / total - 0.3) < 0.04


def test_mix_with_uniform_balance_evens_out_an_imbalanced_stream(digits_gmm_dir, digits):
    keep = torch.cat([torch.nonzero(digits.y == 0).flatten()] + [torch.nonzero(digits.y == c).flatten()[:20] for c in range(1, 10)])
    data = digits.subset(keep)  # 178 zeros, 20 of each other class
    loader = DataLoader(TensorDataset(data.user_x(), data.y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    counts = torch.zeros(10)
    for _ in range(5):
        for _, y in mix(loader, SamplePool(digits_gmm_dir, batch_size=128), ratio=0.5, balance="uniform"):
            counts += torch.bincount(y, minlength=10)
    share = counts / counts.sum()
    real_share = torch.bincount(data.y, minlength=10) / len(data)
    assert real_share[0] > 0.45 and share[0] < 0.25  # zeros: half of the real stream, a fifth at most mixed
    assert share[1:].min() > 0.06


def test_mix_handles_dict_batches_ratio_zero_and_bad_input(digits_gmm_dir, digits):
    pool = SamplePool(digits_gmm_dir, batch_size=64)
    batches = [{"image": digits.user_x()[:16].float() / 16, "label": digits.y[:16], "id": torch.arange(16)}]
    (out,) = list(mix(batches, pool, ratio=1.0, transform=lambda s: s.float() / 16))
    assert set(out) == {"image", "label", "id"} and torch.equal(out["id"], torch.arange(16))
    assert out["image"].dtype == torch.float32 and out["image"].max() <= 1.0
    assert not torch.equal(out["image"], batches[0]["image"])
    (same,) = list(mix(batches, pool, ratio=0.0))
    assert same is batches[0]
    with pytest.raises(ValueError, match=r"ratio: expected a share of synthetic samples in \[0, 1\]"):
        mix(batches, pool, ratio=1.5)
    with pytest.raises(ValueError, match="pass transform="):
        list(mix([(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))], pool, ratio=1.0))
    with pytest.raises(ValueError, match="balance: expected None, 'uniform'"):
        mix(batches, pool, balance="rare-first")
    with pytest.raises(ValueError, match="labels: batch labels span"):
        list(mix([(torch.zeros(4, 8, 8), torch.full((4,), 12))], pool, ratio=1.0))


def test_mix_wraps_a_loader_prepared_by_accelerate(digits_gmm_dir, digits):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    loader = accelerator.prepare(DataLoader(TensorDataset(digits.user_x()[:96], digits.y[:96]), batch_size=32))
    batches = list(mix(loader, SamplePool(digits_gmm_dir, batch_size=64), ratio=0.5))
    assert len(batches) == 3 and all(x.shape == (32, 8, 8) for x, _ in batches)
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert np.array_equal(labels, digits.y[:96].numpy())


def test_mix_gives_the_same_batches_for_the_same_seeds(digits_gmm_dir, digits):
    def run(seed: int) -> list[torch.Tensor]:
        loader = DataLoader(TensorDataset(digits.user_x(), digits.y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
        with SamplePool(digits_gmm_dir, batch_size=32, seed=seed) as pool:  # prefetching: timing must not matter
            return [torch.cat([x.flatten(1), y[:, None].double()], 1) for x, y in mix(loader, pool, ratio=0.5, balance="uniform", seed=seed)]

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and not all(torch.equal(u, v) for u, v in zip(a, c))


def test_pool_checks_the_data_it_joins_at_construction(digits_gmm_dir, digits):
    shuffled = digits.spec.model_copy(update={"class_names": tuple(reversed(digits.spec.class_names))})
    with pytest.raises(ValueError, match=r"classes \['9', '8'.*are not in the model's order"):
        SamplePool(digits_gmm_dir, data=shuffled)
    with pytest.raises(ValueError, match=r"holds vectors of shape \(13,\), the model makes images of shape \(1, 8, 8\)"):
        SamplePool(digits_gmm_dir, data=genaug.load_source("wine"))
    SamplePool(digits_gmm_dir, data=digits)  # fits


def two_worker_loader(digits, seed: int, context: str = "fork") -> DataLoader:
    return DataLoader(
        TensorDataset(digits.user_x()[:320], digits.y[:320]),
        batch_size=32,
        shuffle=True,
        num_workers=2,
        multiprocessing_context=context,
        generator=torch.Generator().manual_seed(seed),
    )


def worker_mixed(folder, digits, seed: int, context: str = "fork") -> tuple[list, DataLoader]:
    with SamplePool(folder, batch_size=64, seed=seed) as pool:
        mixed = mix(two_worker_loader(digits, seed, context), pool, ratio=0.5, seed=seed)
        return [(x.clone(), y.clone()) for x, y in mixed], mixed


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_mix_runs_in_the_loader_workers_reproducibly_and_leaves_the_loader_alone(digits_gmm_dir, digits, context):
    a, mixed = worker_mixed(digits_gmm_dir, digits, 0, context)
    assert mixed.in_workers and len(mixed) == len(mixed.loader) == 10
    b, _ = worker_mixed(digits_gmm_dir, digits, 0, context)
    c, _ = worker_mixed(digits_gmm_dir, digits, 1, context)
    assert all(torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b))  # same seeds, same stream
    assert not all(torch.equal(x, u) for (x, _), (u, _) in zip(a, c))
    # same-class swaps of about half of every batch, against the real batches in the same order
    real = list(two_worker_loader(digits, 0, context))
    assert mixed.loader.collate_fn is not mixed._source.collate_fn  # the user's loader is left as it was
    replaced = 0
    for (x, y), (x_real, y_real) in zip(a, real):
        assert torch.equal(y, y_real) and x.dtype == x_real.dtype
        replaced += int((x != x_real).flatten(1).any(1).sum())
    assert 0.35 < replaced / 320 < 0.65
    # workers 0 and 1 draw from distinct streams: the synthetic samples of two batches differ
    assert not torch.equal(a[0][0], a[1][0])


def test_mix_in_the_main_process_when_asked_or_when_workers_cannot(digits_gmm_dir, digits):
    pool = SamplePool(digits_gmm_dir, batch_size=64)
    plain = DataLoader(TensorDataset(digits.user_x()[:64], digits.y[:64]), batch_size=32)
    assert not mix(plain, pool).in_workers
    with pytest.raises(ValueError, match=r"in_workers: mixing in worker processes needs .* num_workers=0"):
        mix(plain, pool, in_workers=True)
    with pytest.raises(ValueError, match=r"in_workers: .* got a list"):
        mix([(digits.user_x()[:4], digits.y[:4])], pool, in_workers=True)
    threaded = DataLoader(TensorDataset(digits.user_x()[:64], digits.y[:64]), batch_size=32, num_workers=2)
    main = mix(threaded, pool, in_workers=False)
    assert not main.in_workers and main._source is threaded
    assert [y.tolist() for _, y in main] == [y.tolist() for _, y in threaded]


def test_with_accelerate_a_prepared_loader_mixes_in_the_main_process_and_a_mixed_one_in_its_workers(digits_gmm_dir, digits):
    from accelerate import Accelerator

    accelerator, pool = Accelerator(cpu=True), SamplePool(digits_gmm_dir, batch_size=64)
    x_real, y_real = digits.user_x()[:96], digits.y[:96]

    def check(batches) -> None:
        assert torch.equal(torch.cat([y for _, y in batches]), y_real)
        replaced = int((torch.cat([x for x, _ in batches]) != x_real).flatten(1).any(1).sum())
        assert 30 < replaced < 66  # about half of 96

    def plain() -> DataLoader:
        return DataLoader(TensorDataset(x_real, y_real), batch_size=32, num_workers=2)

    prepared = mix(accelerator.prepare(plain()), pool, ratio=0.5)
    assert not prepared.in_workers
    check(list(prepared))
    with pytest.raises(ValueError, match="dataloader: this MixedLoader mixes in the main process"):
        prepared.dataloader
    check(list(accelerator.prepare(mix(plain(), pool, ratio=0.5).dataloader)))


def test_mix_follows_a_ratio_schedule_over_epochs(digits_gmm_dir, digits):
    """linear_decay: the synthetic share falls from the start value to 0, counted over all epochs."""
    from genaug.inject import linear_decay

    loader = DataLoader(TensorDataset(digits.user_x()[:400], digits.y[:400]), batch_size=100)  # 4 batches per epoch
    mixed = mix(loader, SamplePool(digits_gmm_dir, batch_size=256), ratio=linear_decay(1.0, steps=6), seed=0)
    shares = []
    for _ in range(2):
        for (x, _), (x_real, _) in zip(mixed, loader):
            shares.append(float((x != x_real).flatten(1).any(1).double().mean()))
    expected = [1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0, 0.0]
    assert all(abs(s - e) <= 0.11 for s, e in zip(shares, expected)) and shares[-2:] == [0.0, 0.0], shares
    with pytest.raises(ValueError, match="in_workers: a ratio schedule counts batches in the main process"):
        mix(loader, SamplePool(digits_gmm_dir), ratio=linear_decay(0.5, steps=10), in_workers=True)
    with pytest.raises(ValueError, match=r"ratio: the schedule gave 2 for batch 0; expected a share"):
        mix(loader, SamplePool(digits_gmm_dir), ratio=lambda batch: 2)
    with pytest.raises(ValueError, match="steps: expected a positive number of batches, got 0"):
        linear_decay(0.5, steps=0)


def real_rows_seen(batches, real: int, x_all: torch.Tensor) -> list[int]:
    """Indices into x_all of the first ``real`` rows of every batch (the real samples of extend mode)."""
    flat = x_all.flatten(1)
    seen = []
    for x, _ in batches:
        for row in x[:real].flatten(1):
            (match,) = torch.nonzero((flat == row).all(1)).flatten()[:1].tolist()
            seen.append(match)
    return seen


def test_extend_keeps_every_real_sample_once_and_fills_each_batch_with_synthetic_ones(digits_gmm_dir, digits):
    x_real, y_real = digits.user_x()[:100], digits.y[:100]
    unique = torch.unique(x_real.flatten(1), dim=0)
    assert len(unique) == 100  # so every real row names one record
    loader = DataLoader(TensorDataset(x_real, y_real), batch_size=20, shuffle=True, generator=torch.Generator().manual_seed(0))
    mixed = mix(loader, SamplePool(digits_gmm_dir, batch_size=256), ratio=0.5, mode="extend")
    batches = list(mixed)
    assert len(mixed) == len(batches) == 10 and loader.batch_size == 20 and len(loader) == 5  # the user's loader is left as it was
    assert all(x.shape == (20, 8, 8) and x.dtype == x_real.dtype and y.shape == (20,) for x, y in batches)
    assert sorted(real_rows_seen(batches, 10, x_real)) == list(range(100))  # every real sample, once
    for x, y in batches:
        idx = real_rows_seen([(x, y)], 10, x_real)
        assert torch.equal(y[:10], y_real[idx])  # real labels kept
        assert set(y[10:].tolist()) <= set(y[:10].tolist())  # balance=None: synthetic labels follow the batch's real ones
        synthetic = x[10:].flatten(1)
        assert not (synthetic[:, None] == x_real.flatten(1)[None]).all(-1).any()  # none is a real record
    # a share that does not divide the batch: 14 real + 6 synthetic; the short last batch gets its share
    batches = list(mix(loader, SamplePool(digits_gmm_dir, batch_size=256), ratio=0.3, mode="extend"))
    assert len(batches) == 8 and [len(y) for _, y in batches[:7]] == [20] * 7 and len(batches[-1][1]) in (2, 3)
    assert sorted(real_rows_seen(batches[:7], 14, x_real) + real_rows_seen(batches[-1:], 2, x_real)) == list(range(100))


def test_extend_balances_labels_and_mixes_inside_workers_reproducibly(digits_gmm_dir, digits):
    keep = torch.cat([torch.nonzero(digits.y == 0).flatten()] + [torch.nonzero(digits.y == c).flatten()[:20] for c in range(1, 10)])
    data = digits.subset(keep)  # 178 zeros, 20 of each other class
    loader = DataLoader(TensorDataset(data.user_x(), data.y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    counts = torch.zeros(10)
    for _, y in mix(loader, SamplePool(digits_gmm_dir, batch_size=128), ratio=0.5, mode="extend", balance="uniform"):
        counts += torch.bincount(y, minlength=10)
    assert counts.sum() == 2 * len(data) and counts[0] / counts.sum() < 0.3 and (counts[1:] / counts.sum()).min() > 0.06

    def in_workers(seed: int) -> tuple[list, bool]:
        with SamplePool(digits_gmm_dir, batch_size=64, seed=seed) as pool:
            mixed = mix(two_worker_loader(digits, seed), pool, ratio=0.5, mode="extend", seed=seed)
            return [(x.clone(), y.clone()) for x, y in mixed], mixed.in_workers

    (a, worked), (b, _), (c, _) = in_workers(0), in_workers(0), in_workers(1)
    assert worked and len(a) == 20 and all(x.shape == (32, 8, 8) for x, _ in a)
    assert all(torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b))
    assert not all(torch.equal(x, u) for (x, _), (u, _) in zip(a, c))
    assert sorted(real_rows_seen(a, 16, digits.user_x()[:320])) == sorted(
        real_rows_seen([(x, None) for x, _ in two_worker_loader(digits, 0)], 32, digits.user_x()[:320])
    )


def test_extend_through_accelerate_and_on_bf16_inputs(digits_gmm_dir, digits):
    from accelerate import Accelerator

    pool = SamplePool(digits_gmm_dir, batch_size=64)
    x_real, y_real = digits.user_x()[:96].float(), digits.y[:96]
    mixed = mix(DataLoader(TensorDataset(x_real, y_real), batch_size=32), pool, ratio=0.25, mode="extend")
    prepared = Accelerator(cpu=True).prepare(mixed.dataloader)  # the re-cut copy mixes in its collate_fn
    batches = list(prepared)
    assert len(batches) == 4 and all(x.shape == (32, 8, 8) for x, _ in batches)
    assert torch.equal(torch.cat([x[:24] for x, _ in batches]), x_real) and torch.equal(torch.cat([y[:24] for _, y in batches]), y_real)
    half = DataLoader(TensorDataset(x_real.bfloat16(), y_real), batch_size=32)  # the torch path (not numpy)
    (x, y), *_ = list(mix(half, pool, ratio=0.5, mode="extend", in_workers=False))
    assert x.dtype == torch.bfloat16 and x.shape == (32, 8, 8) and torch.equal(x[:16], x_real[:16].bfloat16()) and len(y) == 32


def test_extend_refuses_what_it_cannot_re_cut_or_fill(digits_gmm_dir, digits):
    from torch.utils.data import BatchSampler, SequentialSampler

    from genaug.inject import linear_decay

    pool = SamplePool(digits_gmm_dir, batch_size=64)
    data = TensorDataset(digits.user_x()[:64], digits.y[:64])
    loader = DataLoader(data, batch_size=16)
    with pytest.raises(ValueError, match="mode: expected one of 'replace', 'extend', got 'append'"):
        mix(loader, pool, mode="append")
    with pytest.raises(ValueError, match="ratio: mode='extend' keeps every real sample, so the synthetic share must be below 1, got 1.0"):
        mix(loader, pool, ratio=1.0, mode="extend")
    with pytest.raises(ValueError, match="ratio: mode='extend' re-cuts the loader's batches once"):
        mix(loader, pool, ratio=linear_decay(0.5, steps=4), mode="extend")
    with pytest.raises(ValueError, match="mode: 'extend' re-cuts a torch DataLoader's batches .* got list"):
        mix([(digits.user_x()[:4], digits.y[:4])], pool, mode="extend")
    custom = DataLoader(data, batch_sampler=BatchSampler(SequentialSampler(data), 16, False))
    with pytest.raises(ValueError, match="got a DataLoader with batch_size=None"):
        mix(custom, pool, mode="extend")
    with_ids = DataLoader(TensorDataset(digits.user_x()[:64], digits.y[:64], torch.arange(64)), batch_size=16)
    with pytest.raises(ValueError, match=r"other per-sample fields \(item 2\)"):
        list(mix(with_ids, pool, mode="extend"))
    assert len(list(mix(with_ids, pool, mode="replace"))) == 4  # replace keeps them: the batch keeps its length


def test_mix_meets_the_loaders_layout_and_maps_values_only_when_asked(digits):
    """A loader of (N, 1, 8, 8) float32 batches and a model of (8, 8) digits: the channel axis is added."""
    from torch.utils.data import DataLoader, TensorDataset

    model = genaug.fit(digits, "gmm", steps=3)
    pool = genaug.SamplePool(model, batch_size=128, seed=0)
    x = digits.user_x()[:64].unsqueeze(1).float()
    loader = DataLoader(TensorDataset(x, digits.y[:64]), batch_size=32)
    batch, _ = next(iter(genaug.mix(loader, pool, ratio=1.0)))
    assert batch.shape == (32, 1, 8, 8) and batch.dtype == torch.float32
    assert batch.max() > 1 and torch.equal(batch, batch.round())  # the model's 0..16 grid, unchanged
    fresh = genaug.SamplePool(model, batch_size=128, seed=0)  # the same stream again
    scaled, _ = next(iter(genaug.mix(loader, fresh, ratio=1.0, value_range=(0.0, 1.0))))
    assert scaled.shape == (32, 1, 8, 8) and 0.0 <= scaled.min() and scaled.max() <= 1.0
    torch.testing.assert_close(scaled * 16, batch)
    wrong = DataLoader(TensorDataset(torch.zeros(8, 64), digits.y[:8]), batch_size=4)
    with pytest.raises(ValueError, match="generator does not fit"):
        next(iter(genaug.mix(wrong, pool, ratio=1.0)))
