import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from manymodels.task.hashing import HashingInteractions


@parametrize_with_checks([HashingInteractions(n_features=64), HashingInteractions(degree=1, n_features=32)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def term_names(frame, degree):
    hasher = HashingInteractions(degree=degree)
    columns = [(c, pd.api.types.is_numeric_dtype(frame[c])) for c in frame]
    return [tuple(frame.columns[i] for i in combo) for combo in hasher.terms(columns)]


def test_interactions_skip_powers_of_dummies_but_keep_numeric_powers():
    frame = pd.DataFrame({"x": [1.0], "c": ["a"]})
    assert term_names(frame, 2) == [("x",), ("c",), ("x", "x"), ("x", "c")]
    assert ("c", "c") not in term_names(frame, 3) and ("x", "x", "x") in term_names(frame, 3)


def test_transform_values_land_in_the_hashed_columns():
    frame = pd.DataFrame({"x1": [2.0, 1.0], "x2": [3.0, 0.5], "c": ["a", "b"]})
    hasher = HashingInteractions(degree=2, n_features=2**18, alternate_sign=False)
    matrix = hasher.fit_transform(frame)
    assert sp.issparse(matrix) and matrix.shape == (2, 2**18)
    expected = {"x1": 2.0, "x2": 3.0, "c=a": 1.0, "x1^2": 4.0, "x1*x2": 6.0, "c=a*x1": 2.0, "x2^2": 9.0, "c=a*x2": 3.0}
    row = matrix.getrow(0).toarray().ravel()
    for term, value in expected.items():
        index, sign = hasher.term_index(term)
        assert row[index] == value * sign, term
    assert matrix.getrow(0).nnz == len(expected)  # no other term (no c=a^2, no c=a*c=b)


def test_stateless_params_and_clone():
    frame = pd.DataFrame({"x1": [1.0, 2.0], "x2": [3.0, 4.0]})
    hasher = HashingInteractions(features=["x1"], degree=2, n_features=16)
    unfitted = hasher.transform(frame)
    assert (unfitted != hasher.fit(frame).transform(frame)).nnz == 0
    assert clone(hasher).get_params() == hasher.get_params() | {}
    assert hasher.set_params(degree=1).transform(frame).nnz == 2  # only x1 itself


def test_nan_is_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        HashingInteractions().fit(pd.DataFrame({"x": [1.0, np.nan]}))
