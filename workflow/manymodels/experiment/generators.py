"""Synthetic data sets defined in the config (``data.source: {generator: ...}``)."""

from __future__ import annotations

import numpy as np

# Reference 001's synthetic logistic model: x1, x2, x3 ~ N(0, 1); coefficients step from 0.9
# (intercept) down to 0.1 over the linear terms, the pairwise interactions and the squares.
TRUE_TERMS = ["intercept", "x1", "x2", "x3", "x1*x2", "x1*x3", "x2*x3", "x1^2", "x2^2", "x3^2"]
TRUE_COEFFICIENTS = dict(zip(TRUE_TERMS, np.linspace(0.9, 0.1, len(TRUE_TERMS)).round(12)))
GENERATED_COLUMNS = ["x1", "x2", "x3", "y"]


def logistic_chunks(*, n_rows: int, random_state: int = 0, row_group_size: int = 100_000):
    """Reference 001's synthetic data set, as DataFrames of at most ``row_group_size`` rows."""
    import pandas as pd

    rng = np.random.default_rng(random_state)
    for start in range(0, n_rows, row_group_size):
        x = rng.standard_normal((min(row_group_size, n_rows - start), 3))
        terms = {"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2],
                 "x1*x2": x[:, 0] * x[:, 1], "x1*x3": x[:, 0] * x[:, 2], "x2*x3": x[:, 1] * x[:, 2],
                 "x1^2": x[:, 0] ** 2, "x2^2": x[:, 1] ** 2, "x3^2": x[:, 2] ** 2}
        logit = TRUE_COEFFICIENTS["intercept"] + sum(TRUE_COEFFICIENTS[t] * v for t, v in terms.items())
        y = rng.binomial(1, 1 / (1 + np.exp(-logit)))
        yield pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "y": y.astype(np.int64)})
