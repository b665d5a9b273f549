"""Nested CV's folds: one file per outer fold, inner folds inside its training rows, and outer
folds that can be added without touching the ones already made."""

import numpy as np
import pandas as pd
import pytest

from manymodels.experiment.data import GROWING_KEY, TEST, TRAIN, UNUSED, make_splitter, outer_fold_names, split_definition
from manymodels.task.io import write_parquet
from manymodels.task.prepare import assign_outer_fold


@pytest.mark.parametrize("splitter", sorted(GROWING_KEY))
def test_growing_splitters_keep_their_first_splits(splitter):
    """What split_definition relies on: scikit-learn makes the first splits of these splitters the
    same whatever their number (a change upstream fails here)."""
    key = GROWING_KEY[splitter]
    spec = {"splitter": splitter, "n_splits": 3, "random_state": 5, "test_size": 0.3, "n_repeats": 2}
    X, y = np.zeros((40, 1)), np.repeat([0, 1], 20)
    small = list(make_splitter(spec).split(X, y))
    large = list(make_splitter({**spec, key: spec[key] + 2}).split(X, y))
    assert len(large) > len(small)
    for (a_train, a_test), (b_train, b_test) in zip(small, large):
        assert np.array_equal(a_train, b_train) and np.array_equal(a_test, b_test)
    assert split_definition(spec, 1) == split_definition({**spec, key: 9}, 1)


def test_split_definition_of_a_fixed_splitter_includes_its_size():
    spec = {"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 0}
    assert split_definition(spec, 0) != split_definition({**spec, "n_splits": 4}, 0)
    assert outer_fold_names({"outer": spec}) == ["o0", "o1", "o2"] and outer_fold_names(None) == []


def test_inner_folds_split_the_outer_training_rows_only(tmp_path):
    n = 60
    write_parquet(pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.repeat([0, 1], n // 2)}), tmp_path / "data.parquet")
    write_parquet(pd.DataFrame({"holdout": np.arange(n) >= 50}), tmp_path / "holdout.parquet")
    cv = {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0}
    outer = {"splitter": "StratifiedKFold", "n_splits": 2, "shuffle": True, "random_state": 1}
    assign_outer_fold(data=str(tmp_path / "data.parquet"), holdout=str(tmp_path / "holdout.parquet"), cv=cv,
                      outer=outer, index=1, label="y", out_folds=str(tmp_path / "outer-1.parquet"))
    folds = pd.read_parquet(tmp_path / "outer-1.parquet")
    assert list(folds.columns) == ["o1", "o1-0", "o1-1", "o1-2"]
    assert (folds.loc[50:] == UNUSED).all().all()  # held-out rows are in no fold
    outer_train = folds["o1"] == TRAIN
    for column in ("o1-0", "o1-1", "o1-2"):
        used = folds[column] != UNUSED
        assert (used == outer_train).all()  # inner folds split exactly the outer training rows
    tested = sum((folds[c] == TEST).astype(int) for c in ("o1-0", "o1-1", "o1-2"))
    assert (tested[outer_train] == 1).all()  # each outer training row is tested once
