"""Data parallelism: torchrun with 2 CPU processes (gloo) learns what 1 process learns with the same
global batch, and its checkpoint resumes in 1 process."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from aaekit.data import ArrayDataset
from aaekit.data.loader import BatchLoader
from aaekit.run import train_run
from aaekit.train import load_checkpoint
from conftest import tiny_config

CASES = {
    # input noise: the per-image noise is drawn for the global batch
    "aae": {"model__input_noise": 0.2},
    # labels in the adversarial part: prior samples drawn per (global) label, 11-slot side input
    "label_aae": {"model__kind": "label_aae", "prior": {"kind": "mog", "n_components": 10},
                  "data__labelled": 100},
}


def torchrun(config_path, out, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "aaekit", "train", str(config_path), "--out", str(out), "--set", "train.threads=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def model_state(run_dir):
    return load_checkpoint(run_dir / "checkpoint.pt")["model"]


def assert_same_model(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_learn_what_one_learns(tiny_npz, tmp_path, case):
    cfg = tiny_config(tiny_npz, tmp_path / "one", **CASES[case])
    # 350 training images in global batches of 20: the last batch (10) splits 5 + 5
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    done = torchrun(path, tmp_path / "two")
    assert "2 processes (global batch 20)" in done.stderr
    one = train_run(cfg)["run_dir"]
    assert_same_model(model_state(tmp_path / "two"), model_state(one))
    # losses logged by the 2-process run are the means over both shards: the same as one process's
    two_log = (tmp_path / "two" / "log.csv").read_text().splitlines()
    one_log = (one / "log.csv").read_text().splitlines()
    assert two_log[0] == one_log[0] and len(two_log) == len(one_log) == cfg.train.epochs + 1
    # process 0 alone wrote metrics.json (it exists, once) and the figures
    assert (tmp_path / "two" / "metrics.json").is_file() and (tmp_path / "two" / "codes.png").is_file()

    if case == "aae":  # the 2-process checkpoint resumes in 1 process, on the same course as 1 process
        more = tiny_config(tiny_npz, tmp_path / "two", **CASES[case], train__epochs=3)
        from_ddp = train_run(more, resume=True)["run_dir"]
        straight = train_run(tiny_config(tiny_npz, tmp_path / "one", **CASES[case], train__epochs=3),
                             resume=True)["run_dir"]
        assert load_checkpoint(from_ddp / "checkpoint.pt")["epoch"] == 3
        assert_same_model(model_state(from_ddp), model_state(straight))


def test_shards_cover_each_global_batch_once():
    data = ArrayDataset(torch.arange(70, dtype=torch.uint8).reshape(70, 1), torch.arange(70), (1,))
    one = list(BatchLoader(data, 20, seed=3).epoch(0))
    shards = [list(BatchLoader(data, 20, seed=3, rank=r, world=2).epoch(0)) for r in range(2)]
    # 70 = 3 x 20 + 10: the last global batch (10) splits evenly, so all four batches are kept
    assert len(one) == len(shards[0]) == len(shards[1]) == 4
    for b, s0, s1 in zip(one, *shards, strict=True):
        assert torch.equal(torch.cat([s0.y, s1.y]), b.y)
        assert torch.equal(s0.global_y, b.y) and s1.start == len(s0.y)
        # a draw for the global batch: each shard gets its own rows of what one process draws
        torch.manual_seed(0)
        whole = b.draw(lambda y, n: torch.randn(n, 3))
        parts = []
        for s in (s0, s1):
            torch.manual_seed(0)
            parts.append(s.draw(lambda y, n: torch.randn(n, 3)))
        assert torch.equal(torch.cat(parts), whole)
    # a last global batch that cannot split evenly is left out; a global batch that cannot, refused
    odd = ArrayDataset(data.x[:69], data.y[:69], (1,))  # last global batch: 9 images
    assert len(BatchLoader(odd, 20, seed=3, rank=0, world=2)) == 3
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        BatchLoader(data, 20, seed=3, rank=0, world=3)
