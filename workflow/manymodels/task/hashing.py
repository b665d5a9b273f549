"""A stateless scikit-learn transformer: features and their interactions, hashed into 2**k columns."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_array, validate_data


class HashingInteractions(TransformerMixin, BaseEstimator):
    """Hash numeric and categorical columns, and their interactions up to ``degree``.

    A numeric column ``x`` gives the term ``x`` with its value; a categorical one (any
    non-numeric column) gives the dummy ``c=value`` with value 1. Interaction terms multiply up to
    ``degree`` terms: powers of numeric columns (``x^2``) are included, powers of dummies and
    interactions between dummies of the same categorical column are not. Each term's name is
    hashed (MurmurHash3, as :class:`~sklearn.feature_extraction.FeatureHasher`) into one of
    ``n_features`` columns, so no vocabulary is stored: the transformer is stateless and fit only
    records the input's columns.

    Parameters
    ----------
    features : list of str or None
        Columns to use (of a DataFrame); None uses every column.
    degree : int
        Highest number of factors in an interaction term (1: no interactions).
    n_features : int
        Number of output columns (a power of two is customary).
    alternate_sign : bool
        Give half of the terms a negative sign, so collisions cancel out on average.
    """

    def __init__(self, features=None, degree=2, n_features=2**20, alternate_sign=True):
        self.features = features
        self.degree = degree
        self.n_features = n_features
        self.alternate_sign = alternate_sign

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def fit(self, X, y=None):
        """Record the input columns; nothing is learnt from the values."""
        if not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"degree must be a positive integer, got {self.degree!r}")
        if not isinstance(self.n_features, (int, np.integer)) or self.n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {self.n_features!r}")
        frame = self._frame(X, reset=True)
        self._columns(frame)  # reject NaN and infinite values now rather than at transform time
        self.feature_names_used_ = list(frame.columns)
        return self

    def _frame(self, X, *, reset: bool) -> pd.DataFrame:
        """The input as a DataFrame of the used columns; ``reset`` records the input's shape."""
        if isinstance(X, pd.DataFrame):
            frame = X if self.features is None else X[list(self.features)]
            if reset:
                self.n_features_in_ = X.shape[1]
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            return frame
        if reset or hasattr(self, "n_features_in_"):
            array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        else:  # stateless: transform works unfitted too
            array = check_array(X, dtype=None, ensure_all_finite=False)
        frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        return frame if self.features is None else frame[list(self.features)]

    def _columns(self, frame: pd.DataFrame) -> list[tuple[str, np.ndarray, bool]]:
        """(name, values, is_numeric) per column; numeric values must be finite."""
        columns = []
        for name in frame.columns:
            values = frame[name].to_numpy()
            numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name])
            if not numeric and values.dtype == object:
                try:  # object arrays of numbers (as scikit-learn's checks pass) are numeric
                    values, numeric = values.astype(float), True
                except (TypeError, ValueError):
                    pass
            if numeric:
                values = values.astype(float)
                if not np.isfinite(values).all():
                    raise ValueError(f"column {name!r} has NaN or infinite values")
            columns.append((str(name), values, numeric))
        return columns

    def terms(self, names_numeric: list[tuple[str, bool]]):
        """The interaction terms over the given columns, as tuples of column positions."""
        for degree in range(1, self.degree + 1):
            for combo in itertools.combinations_with_replacement(range(len(names_numeric)), degree):
                counts = Counter(combo)
                if all(names_numeric[i][1] or n == 1 for i, n in counts.items()):
                    yield combo

    def _hash(self, name: str) -> tuple[int, float]:
        h = murmurhash3_32(name, seed=0, positive=False)
        return abs(h) % self.n_features, (-1.0 if (self.alternate_sign and h < 0) else 1.0)

    def term_index(self, name: str) -> tuple[int, float]:
        """Column and sign of a term name, e.g. ``"x1"``, ``"x1^2"``, ``"c=a*x2"`` (factors sorted)."""
        return self._hash(name)

    def transform(self, X):
        """A sparse matrix of shape (n_samples, n_features) of the hashed terms."""
        columns = self._columns(self._frame(X, reset=False))
        n = len(columns[0][1]) if columns else (X.shape[0] if hasattr(X, "shape") else len(X))
        rows, cols, vals = [], [], []
        for combo in self.terms([(name, numeric) for name, _, numeric in columns]):
            counts = Counter(combo)
            value = np.ones(n)
            numeric_parts, categorical = [], []
            for i, power in counts.items():
                name, values, numeric = columns[i]
                if numeric:
                    value = value * values**power
                    numeric_parts.append(name if power == 1 else f"{name}^{power}")
                else:
                    categorical.append(i)
            if not categorical:
                index, sign = self._hash("*".join(sorted(numeric_parts)))
                index, sign = np.full(n, index), np.full(n, sign)
            else:  # the name depends on the row's categories: hash each distinct combination once
                labels = np.array(["*".join(f"{columns[i][0]}={columns[i][1][r]}" for i in categorical) for r in range(n)],
                                  dtype=object)
                uniques, inverse = np.unique(labels.astype(str), return_inverse=True)
                hashed = [self._hash("*".join(sorted(u.split("*") + numeric_parts))) for u in uniques]
                index = np.array([h[0] for h in hashed], dtype=np.int64)[inverse]
                sign = np.array([h[1] for h in hashed])[inverse]
            rows.append(np.arange(n))
            cols.append(index)
            vals.append(value * sign)
        if not rows:
            return sp.csr_matrix((n, self.n_features))
        matrix = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, self.n_features)
        )
        matrix.sum_duplicates()
        return matrix
