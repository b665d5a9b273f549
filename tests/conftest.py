"""Shared fixtures: the repository root and tiny experiment configs."""

from __future__ import annotations

import copy

import pytest


# A small penguins x Gaussian-mixture experiment: 4 configurations x (3 folds + full).
TINY_CONFIG = {
    "data": {
        "source": "penguins",
        "features": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
        "label": "species",
    },
    "cv": {"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 1},
    "models": {
        "gmm": {
            "estimator": "sklearn.mixture.GaussianMixture",
            "kwargs": {"n_init": 1, "random_state": 0},
            "grid": {"n_components": [2, 3], "covariance_type": ["full", "spherical"]},
        }
    },
    "metrics": {
        "ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True},
        "bic": {"method": "bic", "greater_is_better": False},
    },
    "selection": {"metric": "ars", "simplest": ["n_components"]},
}


@pytest.fixture
def tiny_config() -> dict:
    return copy.deepcopy(TINY_CONFIG)


# `make test` runs the tests in parallel worker processes (pytest-xdist, --dist loadscope: a module's
# tests stay on one worker and share its fixtures), in the order collected: these modules start
# first, longest first, and the others fill the time beside them. The README's chains and the Slurm
# tests take 15 minutes each in the suite, much of it waiting; the fault suite and test_workflow 4 to
# 7 minutes. Collected in file order, test_workflow came last and ran alone for the suite's last
# 2 minutes (a fresh clone of e1fd0b1).
FIRST = ("tests/integration/test_readme.py", "tests/slurm/", "tests/integration/test_faults.py",
         "tests/integration/test_workflow.py")


def _rank(nodeid: str) -> int:
    return next((i for i, prefix in enumerate(FIRST) if nodeid.startswith(prefix)), len(FIRST))


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: _rank(item.nodeid))  # stable: each module keeps its order
