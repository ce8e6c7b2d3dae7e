"""The cone study as the paper measured it: kernels on training inputs, lag curves S(t, t + Δ), and the calibration
S between independently initialised networks."""

import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from twophase_lib.cache import Cache
from twophase_lib.chaos import REFERENCE_OFFSET
from twophase_lib.cone import ConeStudy, run_studies
from twophase_lib.executor import Executor
from twophase_lib.ntk import distance_matrix, kernel_distance
from twophase_lib.store import KERNEL_PRODUCTS, State, kernel_at


def test_lag_curves_training_inputs_and_calibration(tmp_path):
    cache = Cache(tmp_path)
    run = tiny_config(steps=12)
    study = ConeStudy(run, (0, 4, 8, 12), (4,), seeds=(0, 1), n_inputs=3, split="train", reference_seeds=(0,))
    res = run_studies({"s": study}, cache, Executor(0), progress=False)["s"]
    lags = res.lag_curve(4, (4, 8))
    assert lags.shape == (2, 2) and lags[0, 1] == res.matrices[0, 1, 3]
    assert res.reference.shape == (1, 4) and np.all((res.reference > 0) & (res.reference <= 2))
    with pytest.raises(ValueError, match="not checkpoints"):
        res.lag_curve(8, (8,))
    train_k = kernel_at(run, 4, 3, "full", cache, split="train")
    test_k = kernel_at(run, 4, 3, "full", cache)
    assert not torch.equal(train_k, test_k)
    # test-image kernels keep the cache key they always had
    assert cache.path("entk", (*State(run, 4).key(), 3, "full", KERNEL_PRODUCTS)).exists()
    with pytest.raises(ValueError, match="unknown eNTK input split"):
        ConeStudy(run, (0, 4), (4,), split="validation")


def test_calibration_on_a_subset_of_checkpoints_and_kernels_shared_between_studies(tmp_path):
    cache = Cache(tmp_path)
    run = tiny_config(steps=12)
    every = ConeStudy(run, (0, 4, 8, 12), (4,), seeds=(0,), n_inputs=3, split="train", reference_seeds=(0,))
    some = ConeStudy(run, (0, 4, 8, 12), (4,), seeds=(0,), n_inputs=3, split="train", reference_seeds=(0,),
                     reference_steps=(4, 12))
    res = run_studies({"every": every, "some": some}, cache, Executor(0), progress=False)
    a, b = res["every"], res["some"]
    assert some.calibration_steps == (4, 12) and every.calibration_steps == every.steps
    assert np.isnan(b.reference[0, [0, 2]]).all()
    assert np.array_equal(b.reference[0, [1, 3]], a.reference[0, [1, 3]])
    assert np.array_equal(a.matrices, b.matrices)
    # brute force: the matrix and the calibration from each kernel computed directly
    kernels = [kernel_at(run, s, 3, "full", cache, split="train") for s in every.steps]
    assert np.array_equal(a.matrices[0], distance_matrix(kernels))
    other = run.replace(seed=REFERENCE_OFFSET, data_seed=0)
    assert a.reference[0, 3] == kernel_distance(kernels[3], kernel_at(other, 12, 3, "full", cache, split="train"))
    with pytest.raises(ValueError, match="must be checkpoints"):
        ConeStudy(run, (0, 4), (4,), reference_steps=(2,))
