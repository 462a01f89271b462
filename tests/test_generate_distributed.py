"""`generate_dataset` and `genaug generate` across processes: the rows do not depend on how many write them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pytest

from genaug.cli import main
from genaug.hf import generate_dataset
from genaug.inject.pool import SamplePool

TORCHRUN = Path(sys.executable).with_name("torchrun")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # gloo on CPU, as a CPU-only machine runs it


def torchrun(*args: str) -> str:
    """Run ``torchrun --nproc_per_node 2 ARGS`` on CPU; its log, after checking it succeeded."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(TORCHRUN), "--nproc_per_node", "2", "--master_port", str(port), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    return log


def rows(path: Path) -> dict:
    return datasets.load_from_disk(str(path)).to_dict()


def test_seek_serves_what_one_pool_serves_from_that_point(digits_gmm_dir):
    whole, _ = SamplePool(digits_gmm_dir, batch_size=8, seed=3).take([3] * 20 + [5] * 4)
    start = [0] * 10
    start[3], start[5] = 11, 1
    part, info = SamplePool(digits_gmm_dir, batch_size=8, seed=3).seek(start, [0, 0, 0, 20, 0, 4, 0, 0, 0, 0]).take([3] * 9 + [5] * 3)
    assert (part[:9] == whole[11:20]).all() and (part[9:] == whole[21:]).all()
    assert info[0].index == 3 and info[9].index == 1  # positions within their refills, as one pool tells them
    with pytest.raises(ValueError, match="start: expected 10 non-negative"):
        SamplePool(digits_gmm_dir, batch_size=8).seek([1, 2])
    with pytest.raises(ValueError, match="with a filter cannot seek"):
        SamplePool(digits_gmm_dir, batch_size=8, filter=lambda x, y: y >= 0).seek(start)
    used = SamplePool(digits_gmm_dir, batch_size=8, prefetch=False)
    used.take([0])
    with pytest.raises(RuntimeError, match="drawn nothing yet"):
        used.seek(start)


def test_the_command_writes_what_the_function_writes(digits_gmm_dir, tmp_path, capsys):
    api = generate_dataset(digits_gmm_dir, 37, tmp_path / "api", batch_size=16, chunk_size=10, labels="uniform", seed=4)
    out = tmp_path / "cli"
    args = ["generate", str(digits_gmm_dir), "-n", "37", "--out", str(out), "--batch-size", "16", "--chunk-size", "7"]
    assert main([*args, "--labels", "uniform", "--seed", "4"]) == 0
    assert rows(out) == api.to_dict()
    assert main([*args, "--labels", "balanced", "--overwrite"]) == 0
    assert rows(out)["label"] == [i % 10 for i in range(37)]

    for bad, message in (
        (["-n", "0"], "-n: expected a positive number of rows, got 0"),
        (["--labels", "cat"], "--labels: unknown class 'cat'"),
        ([], "exists; pass overwrite=True"),
    ):
        assert main([*args, *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


@pytest.mark.slow
def test_two_processes_write_the_rows_one_process_writes(digits_gmm_dir, tmp_path):
    """101 rows (not a multiple of the batch or chunk size) by torchrun's two processes, then by this one."""
    out = tmp_path / "two"
    common = ["-n", "101", "--batch-size", "16", "--chunk-size", "7", "--seed", "5", "--provenance"]
    log = torchrun("-m", "genaug.cli", "generate", str(digits_gmm_dir), "--out", str(out), *common)
    assert "wrote 101 rows" in log and "(2 processes)" in log
    assert sorted(p.name for p in out.iterdir()) == [
        "data-00000-of-00002.arrow", "data-00001-of-00002.arrow", "dataset_info.json", "state.json",
    ]  # one shard per process, listed in row order
    one = generate_dataset(digits_gmm_dir, 101, tmp_path / "one", batch_size=16, chunk_size=10, seed=5, provenance=True)
    assert rows(out) == one.to_dict()  # images, labels and provenance, row for row
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no temporary folders left


@pytest.mark.slow
def test_fewer_rows_than_processes_and_a_failure_on_one_process(digits_gmm_dir, tmp_path):
    """n=1: the second process writes nothing. Then a failure on rank 1 only raises on both ranks and leaves the folder as it was."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import torch.distributed as dist
        from genaug.hf import _dataset, generate_dataset

        model, out = {str(digits_gmm_dir)!r}, {str(tmp_path / "few")!r}
        dist.init_process_group("gloo")  # a group of the caller's: generate_dataset uses it and leaves it
        data = generate_dataset(model, 1, out, batch_size=16, labels=[7], seed=2)
        print(f"rank {{dist.get_rank()}} read {{len(data)}} row(s)")
        if dist.get_rank() == 1:
            _dataset._TableLayout.encode = lambda *args: 1 / 0
        try:
            generate_dataset(model, 30, out, batch_size=16, chunk_size=4, overwrite=True)
        except ZeroDivisionError as err:
            print(f"rank {{dist.get_rank()}} raised ZeroDivisionError {{getattr(err, '__notes__', [])}}")
        dist.destroy_process_group()
    """))
    log = torchrun(str(script))
    assert "rank 0 read 1 row(s)" in log and "rank 1 read 1 row(s)" in log, log[-4000:]
    assert "rank 0 raised ZeroDivisionError ['(raised on rank 1 of 2)']" in log and "rank 1 raised ZeroDivisionError []" in log
    assert rows(tmp_path / "few") == generate_dataset(digits_gmm_dir, 1, tmp_path / "one", batch_size=16, labels=[7], seed=2).to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few", "one", "script.py"]
