"""One bad fit is one bad row, through `snakemake --configfile` as users run it: a fit that
segfaults, one that is SIGKILLed, one that allocates past limits.memory_mb and one that sleeps past
limits.fit_seconds each become a failed row saying what happened; every other configuration is
fitted and reported, and the same command afterwards has nothing to do."""

from __future__ import annotations

import json
import re
import time

import pandas as pd
import pytest

from workflow_helpers import make_workflow, snakemake

pytestmark = pytest.mark.integration

# A module of the user's own, beside the config file.
MODULE = '''
import ctypes
import os
import signal
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Troublemaker(ClassifierMixin, BaseEstimator):
    """Predicts the most frequent class, after misbehaving as ``how`` says."""

    def __init__(self, how="nothing"):
        self.how = how

    def fit(self, X, y):
        if self.how == "segfault":
            ctypes.string_at(0)  # reads address 0
        elif self.how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.how == "hog":
            self.hoard_ = np.ones(2000 * 2**20 // 8)  # 2 GB, past the 300 MB limit
        elif self.how == "sleep":
            time.sleep(60)
        values, counts = np.unique(np.asarray(y), return_counts=True)
        self.classes_, self.majority_ = values, values[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)
'''

CONFIG = """
data: {source: "sklearn:iris", label: target}
cv: {splitter: StratifiedKFold, n_splits: 3, shuffle: true, random_state: 0}
limits: {fit_seconds: 3}
models:
  trouble:
    estimator: trouble.Troublemaker
    grid: {how: [nothing, segfault, sigkill, hog, sleep]}
    limits: {memory_mb: 300}
metrics:
  accuracy: accuracy
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("crashes") / "wf", {})
    (root / "configs").mkdir()
    (root / "configs" / "trouble.py").write_text(MODULE)
    (root / "configs" / "trouble.yaml").write_text(CONFIG)
    start = time.monotonic()
    run = snakemake(root, "--configfile", "configs/trouble.yaml")
    return root, run.stdout + run.stderr, time.monotonic() - start


@pytest.mark.fast
def test_each_kind_of_trouble_is_a_failed_row_saying_what_happened(experiment):
    root, _, _ = experiment
    scores = pd.read_parquet(root / "results/trouble/scores.parquet")
    by_how = {how: rows for how, rows in scores.groupby("how")}
    assert (by_how["nothing"]["status"] == "ok").all() and by_how["nothing"]["accuracy"].notna().all()
    expected = {"segfault": ("WorkerCrash", r"died from SIGSEGV \(segmentation fault\)"),
                "sigkill": ("WorkerCrash", r"died from SIGKILL \(killed\)"),
                "hog": ("MemoryLimit", r"ran out of its memory limit of 300 MB \(limits\.memory_mb\)"),
                "sleep": ("TimeLimit", r"stopped after 3\.\d s: over its limit of 3 s \(limits\.fit_seconds\)")}
    for how, (error_type, error) in expected.items():
        rows = by_how[how]
        assert (rows["status"] == "failed").all() and set(rows["error_type"]) == {error_type}, rows
        assert all(re.search(error, e) for e in rows["error"]), list(rows["error"])
        assert rows["accuracy"].isna().all()


def test_a_fit_past_its_time_is_stopped_within_a_second_of_its_limit(experiment):
    root, _, _ = experiment
    scores = pd.read_parquet(root / "results/trouble/scores.parquet")
    for error in scores.loc[scores["how"] == "sleep", "error"]:
        assert float(re.search(r"stopped after (\d+\.\d) s", error).group(1)) < 3 + 1


def test_the_run_says_how_many_crashed_and_hit_a_limit_and_the_report_names_them(experiment):
    root, out, _ = experiment
    run = json.loads((root / "results/trouble/run.json").read_text())
    assert run["families"]["trouble"]["stopped"] == {"WorkerCrash": 6, "TimeLimit": 3, "MemoryLimit": 3}
    assert "12 failed (6 crashed, 3 over the time limit, 3 over the memory limit)" in out
    report = (root / "results/trouble/report.html").read_text()
    assert "Fits their process could not finish" in report and "over the memory limit" in report
    assert json.loads((root / "results/trouble/selection.json").read_text())["overall"]["params"] == {"how": "nothing"}


def test_the_same_command_afterwards_has_nothing_to_do(experiment):
    root, _, _ = experiment
    again = snakemake(root, "--configfile", "configs/trouble.yaml")
    assert "is up to date: nothing to run" in again.stdout + again.stderr
