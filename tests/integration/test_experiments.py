"""One experiment per config file: `--configfile F` runs exactly F into results/<name>/, experiments
do not collide, every run ends with a summary, and a family whose every fit failed is an error."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG
from manymodels.results.store import Results
from workflow_helpers import copy_run, make_workflow, snakemake

pytestmark = pytest.mark.integration

# A supervised experiment with other metrics than config.yaml's: any leak of config.yaml's keys
# (bic, a method iris' classifier does not have) would fail its config check.
IRIS = {
    "data": {"source": "sklearn:iris", "label": "target"},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 3, "shuffle": True, "random_state": 0},
    "models": {"tree": {"estimator": "sklearn.tree.DecisionTreeClassifier", "grid": {"max_depth": [None, 2, 3]}}},
    "metrics": {"accuracy": "accuracy"},
}


@pytest.fixture(scope="module")
def two_experiments(tmp_path_factory):
    """The default experiment (config.yaml, name penguins), then configs/iris.yaml by --configfile."""
    root = make_workflow(tmp_path_factory.mktemp("two") / "wf", {**TINY_CONFIG, "name": "penguins"})
    (root / "configs").mkdir()
    (root / "configs/iris.yaml").write_text(yaml.safe_dump(IRIS, sort_keys=False))
    first = snakemake(root)
    before = {p: p.stat().st_mtime_ns for p in (root / "results/penguins").rglob("*") if p.is_file()}
    second = snakemake(root, "--configfile", "configs/iris.yaml")
    return root, first, second, before


def test_configfile_runs_exactly_its_experiment(two_experiments):
    root, _, second, _ = two_experiments
    assert "is extended by additional config" not in second.stdout + second.stderr
    scores = pd.read_parquet(root / "results/iris/scores.parquet")
    assert set(scores["model"]) == {"tree"} and "accuracy" in scores and "bic" not in scores and "ars" not in scores
    assert (root / "logs/iris/summarise_run.log").is_file()
    run = json.loads((root / "results/iris/run.json").read_text())
    assert run["experiment"] == "iris" and run["config_file"] == "configs/iris.yaml"


def test_a_second_experiment_leaves_the_first_untouched(two_experiments):
    root, _, _, before = two_experiments
    after = {p: p.stat().st_mtime_ns for p in (root / "results/penguins").rglob("*") if p.is_file()}
    assert after == before
    # penguins has an in-sample metric (BIC): every configuration is also fitted on all rows;
    # iris has none: CV folds only, and the chosen configuration refitted after selection.
    assert len(Results(root / "results/penguins").tasks) == 16 and len(Results(root / "results/iris").tasks) == 9
    assert list((root / "results/iris/models/tree").glob("*/fold-full.joblib"))


def test_experiments_are_listed_and_queried_by_name(two_experiments):
    root, *_ = two_experiments
    cli = [sys.executable, "-m", "manymodels"]
    listed = subprocess.run([*cli, "experiments", "--format", "csv"], cwd=root, capture_output=True, text=True,
                            check=True).stdout
    table = pd.read_csv(__import__("io").StringIO(listed))
    assert table["experiment"].tolist() == ["iris", "penguins"]
    assert table.set_index("experiment").loc["iris", "config_file"] == "configs/iris.yaml"
    out = subprocess.run([*cli, "results", "iris", "--summary", "--columns", "max_depth,accuracy_mean", "--format",
                          "json"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert sorted(str(r["max_depth"]) for r in json.loads(out)) == ["2", "3", "None"]


def test_every_run_ends_with_a_summary(two_experiments):
    _, first, second, _ = two_experiments
    for result, name, family in ((first, "penguins", "gmm"), (second, "iris", "tree")):
        out = result.stdout + result.stderr
        assert f"Experiment {name} (" in out and f"\n{family} " in out
        assert "Winner: " in out and f"Report: results/{name}/report.html" in out


def test_each_experiment_keeps_its_own_nothing_to_do_shortcut(two_experiments, tmp_path):
    root = copy_run(two_experiments[0], tmp_path / "wf")
    for args in ((), ("--configfile", "configs/iris.yaml")):
        out = snakemake(root, *args)
        text = out.stdout + out.stderr
        assert "Nothing changed since the last successful run" in text and "Winner: " in text


def test_hyperparameters_keep_their_types(two_experiments):
    root, *_ = two_experiments
    summary = pd.read_parquet(root / "results/iris/summary.parquet")
    assert str(summary["max_depth"].dtype) == "Int64"
    assert [json.loads(p)["max_depth"] for p in summary["params"]] == [None, 2, 3]
    chosen = json.loads((root / "results/iris/selection.json").read_text())["models"]["tree"]["chosen"]
    assert chosen["params"]["max_depth"] in (None, 2, 3) and not isinstance(chosen["params"]["max_depth"], float)


FAILING = {
    "data": {"source": "sklearn:iris", "label": "target"},
    "holdout": {"size": 0.2},
    "cv": {"splitter": "StratifiedKFold", "n_splits": 3},
    "models": {"svc": {"estimator": "sklearn.svm.SVC", "grid": {"C": [-1.0, -2.0]}}},
    "metrics": {"accuracy": "accuracy"},
}


@pytest.mark.parametrize("with_good_family", [True, False])
def test_a_family_whose_every_fit_failed_is_an_error_after_the_report(tmp_path, with_good_family):
    config = copy.deepcopy(FAILING)
    if with_good_family:
        config["models"]["logreg"] = {"estimator": "sklearn.linear_model.LogisticRegression", "grid": {"C": [1.0]}}
    root = make_workflow(tmp_path / "wf", TINY_CONFIG)
    (root / "failing.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(root, "--configfile", "failing.yaml", check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "all 6 fits of family 'svc' failed; most common error (6 of them): InvalidParameterError: The 'C' " \
           "parameter of SVC must be a float" in out
    assert "Traceback" not in out and 'File "' not in out
    report = (root / "results/failing/report.html").read_text()
    assert "Failures (6 fits)" in report
    for plot in ("cv_scores.png", "test_predictions.png", "svc/accuracy.png"):
        assert (root / "results/failing/plots" / plot).is_file()
    if with_good_family:
        assert "Winner: logreg C=1" in out
    # Still an error on the next run, not hidden behind "nothing to be done".
    again = snakemake(root, "--configfile", "failing.yaml", check=False,
                      env={**os.environ, "MANYMODELS_NO_SHORTCUT": "1"})
    assert again.returncode == 1 and "all 6 fits of family 'svc' failed" in again.stdout + again.stderr
