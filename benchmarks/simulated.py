"""A classifier whose fit sleeps a fixed time, to simulate many cores on a small machine.

Sleeping uses no CPU, so 20 workers can overlap on 2 cores and the workflow's own costs show.
Every fit appends its start and end time (``time.time()``) to ``$MANYMODELS_FIT_TIMES/<pid>.txt``
so a benchmark can measure how busy the workers were.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SleepClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the most frequent class; ``fit`` takes ``sleep_seconds`` (``replicate`` only makes
    configurations differ)."""

    def __init__(self, sleep_seconds: float = 0.1, replicate: int = 0):
        self.sleep_seconds = sleep_seconds
        self.replicate = replicate

    def fit(self, X, y):
        start = time.time()
        time.sleep(self.sleep_seconds)
        values, counts = np.unique(np.asarray(y), return_counts=True)
        self.classes_ = values
        self.majority_ = values[np.argmax(counts)]
        record_fit(start, time.time())
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def record_fit(start: float, end: float) -> None:
    folder = os.environ.get("MANYMODELS_FIT_TIMES")
    if folder:
        with open(os.path.join(folder, f"{os.getpid()}.txt"), "a") as fh:
            fh.write(f"{start:.6f} {end:.6f}\n")
