"""What a careful first-time user sees, through the commands they run: a config written as the README
writes it (`on: train` unquoted, a data file beside the config) run with `--configfile`, honest
uncertainties, ties and rope said, a self-contained report, a deleted model refitted, halving's
stages kept apart and every fit counted once."""

from __future__ import annotations

import copy
import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from manymodels.experiment.data import resolve_source
from workflow_helpers import make_workflow, manymodels, snakemake

pytestmark = pytest.mark.integration

FEATURES = "[bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g]"
KMEANS = """
    pipeline:
      - {name: scale, estimator: sklearn.preprocessing.StandardScaler}
      - {name: cluster, estimator: sklearn.cluster.KMeans, kwargs: {n_init: 2, random_state: 0}}
    random:
      n_iter: 5                            # the space has 2 points: 2 configurations, and the run says so
      distributions:
        cluster__n_clusters: {randint: [2, 4]}   # 2 or 3: the upper bound is excluded, as scipy's
"""
# As a user writes it: YAML's unquoted `on`, a data file beside the config, no rope, two families that
# make the same partitions (a tie the first family wins by order).
CONFIG = f"""
data:
  source: birds.csv
  features: {FEATURES}
  label: species
cv: {{splitter: KFold, n_splits: 3, shuffle: true, random_state: 1}}
models:
  first:{KMEANS}
  second:{KMEANS}
metrics:
  ars: {{function: sklearn.metrics.adjusted_rand_score, greater_is_better: true}}
  ars_train:
    function: sklearn.metrics.adjusted_rand_score
    on: train
    greater_is_better: true
selection:
  metric: ars
"""


HALVING = {
    "data": {"source": "penguins", "features": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
             "label": "species"},
    "cv": {"splitter": "KFold", "n_splits": 5, "shuffle": True, "random_state": 1},
    # n_components 40 fails on the first rung's ninth of the rows (about 30): 12 configurations, 3 rungs.
    "models": {"gmm": {"estimator": "sklearn.mixture.GaussianMixture", "kwargs": {"n_init": 1, "random_state": 0},
                       "grid": {"n_components": [2, 3, 4, 5, 6, 40], "covariance_type": ["full", "spherical"]}}},
    "metrics": {"ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True}},
    "selection": {"metric": "ars", "rope": 0.02},
    "halving": {"resource": "n_samples", "factor": 3, "min_resources": 0.1},
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = make_workflow(tmp_path_factory.mktemp("honest") / "wf", {})
    (root / "config.yaml").unlink()
    (root / "configs").mkdir()
    shutil.copy(resolve_source("penguins"), root / "configs" / "birds.csv")
    (root / "configs" / "honest.yaml").write_text(CONFIG)
    run = snakemake(root, "--configfile", "configs/honest.yaml")
    return root, run.stdout + run.stderr


def test_the_config_as_the_readme_writes_it_runs(experiment):
    root, out = experiment
    results = root / "results/honest"
    assert json.loads((results / "data/summary.json").read_text())["source"] == "configs/birds.csv"
    scores = pd.read_parquet(results / "scores.parquet")
    full = scores[scores["fold"] == "full"]  # on: train was read as on, not as True: an in-sample metric
    assert len(full) == 4 and full["ars_train"].notna().all() and full["ars"].isna().all()
    assert "models.first.random: n_iter is 5 but the space has only 2 distinct configurations" in out
    assert sorted(scores.drop_duplicates(["model", "config_id"])["cluster__n_clusters"]) == [2, 2, 3, 3]


def test_every_shown_uncertainty_is_the_corrected_standard_error(experiment):
    root, _ = experiment
    results = root / "results/honest"
    summary = pd.read_parquet(results / "summary.parquet")
    scores = pd.read_parquet(results / "scores.parquet")
    row = summary.iloc[0]
    mine = (scores["model"] == row["model"]) & (scores["config_id"] == row["config_id"])
    folds = scores[mine & (scores["fold"] != "full")]
    ratio = (folds["n_test"] / folds["n_train"]).mean()
    assert row["ars_se_corrected"] == pytest.approx((folds["ars"].var(ddof=1) * (1 / 3 + ratio)) ** 0.5)
    assert row["ars_se_corrected"] > row["ars_sem"]
    cv = pd.read_parquet(results / "cv_results.parquet").set_index(["model", "config_id"])
    assert cv.loc[(row["model"], row["config_id"]), "se_corrected_test_ars"] == pytest.approx(row["ars_se_corrected"])
    run = json.loads((results / "run.json").read_text())
    assert "(mean ± corrected standard error over 3 CV folds)" in run["text"] and run["winner"]["se"] > \
        run["winner"]["sem"]


def test_a_tie_and_a_missing_rope_are_said(experiment):
    root, _ = experiment
    results = root / "results/honest"
    choices = json.loads((results / "selection.json").read_text())
    tie = next(w["message"] for w in choices["warnings"] if w["kind"] == "tie")
    assert choices["overall"]["model"] == "first" and "second cluster__n_clusters=" in tie
    assert "The tie was broken by the order of the model families in the config" in tie
    assert choices["rope"] is None and choices["suggested_rope"] > 0
    text = json.loads((results / "run.json").read_text())["text"]
    assert "none can be practically equivalent without selection.rope" in text and "within 0 " not in text
    report = (results / "report.html").read_text()
    assert "No region of practical equivalence is set" in report and "within 0 " not in report
    assert "losing less than 0" not in report


def test_the_report_is_one_self_contained_file(experiment, tmp_path):
    root, _ = experiment
    alone = tmp_path / "mailed" / "report.html"
    alone.parent.mkdir()
    shutil.copy(root / "results/honest/report.html", alone)
    sources = re.findall(r"<img src='([^']*)'", alone.read_text())
    assert len(sources) >= 4 and all(s.startswith("data:image/png;base64,") for s in sources)


def test_a_deleted_model_is_listed_by_verify_and_fitted_again_by_the_same_command(experiment, tmp_path):
    source, _ = experiment
    root = tmp_path / "wf"
    shutil.copytree(source, root, symlinks=True)
    model = next((root / "results/honest/fits/first").glob("*/fold-1.joblib"))
    model.unlink()
    # and a score write that a killed run left half-done: no score, so no model to ask for
    (root / "results/honest/scores/first" / model.parent.name / ".fold-2.parquet.k3x9q1ab.tmp").write_bytes(b"")
    checked = manymodels(root, "verify", "honest")
    assert checked.returncode == 1 and f"{model.relative_to(root)}: missing" in checked.stdout
    rerun = snakemake(root, "--configfile", "configs/honest.yaml")
    assert model.is_file() and "1 fitted in this run" in rerun.stdout + rerun.stderr
    assert manymodels(root, "verify", "honest").returncode == 0


def test_a_missing_data_file_names_every_place_looked(experiment, tmp_path):
    source, _ = experiment
    root = make_workflow(tmp_path / "wf", {})
    (root / "configs").mkdir()
    (root / "configs" / "honest.yaml").write_text(CONFIG)
    failed = snakemake(root, "--configfile", "configs/honest.yaml", check=False)
    lines = [line for line in (failed.stdout + failed.stderr).splitlines() if not line.startswith("Using workflow")]
    assert failed.returncode == 1 and lines == [
        "configs/honest.yaml: data.source: data file 'birds.csv' not found (looked for 'configs/birds.csv' and "
        "'birds.csv', beside the config file first, then in the working directory)"], lines


def test_halving_keeps_its_stages_apart_and_counts_every_fit_once(tmp_path):
    """n_components 40 fails on the first rung's ninth of the rows: named so, never promoted; the
    tables and the report rank only the configurations that reached the last rung together."""
    root = make_workflow(tmp_path / "wf", copy.deepcopy(HALVING))
    out = snakemake(root)
    results = root / "results/config"
    rung0 = json.loads((results / "halving/rung-0.json").read_text())
    failed = {d["config_id"]: d["reason"] for d in rung0["dropped"] if d["reason"].startswith("every fit failed")}
    assert len(failed) == 2 and all(re.fullmatch(r"every fit failed with 1/9 of the training rows \(about \d\d rows\)", r)
                                    for r in failed.values())
    assert not set(failed) & {s["config_id"] for s in rung0["survivors"]}
    fits = len(list((results / "fits").glob("*/*/fold-*.json")))
    run = json.loads((results / "run.json").read_text())
    failed_fits = sum(json.loads(p.read_text())["status"] != "ok" for p in (results / "fits").glob("*/*/fold-*.json"))
    assert run["families"]["gmm"]["fits"] == fits and run["families"]["gmm"]["failed"] == failed_fits == 10
    assert re.search(r"Failures in gmm: 10 of \d+ fits; most common \(10 with 1/9 of the training rows, about \d\d "
                     r"rows\): ValueError", run["text"]), run["text"]
    summary_line = (out.stdout + out.stderr).splitlines()
    assert any(line.startswith(f"Experiment config (config.yaml): {fits} fits (") for line in summary_line)
    report = (results / "report.html").read_text()
    finishers = json.loads((results / "halving/rung-1.json").read_text())["survivors"]
    assert f"Top 10 of the {len(finishers)} configurations that reached the last stage" in report
    assert "they are not ranked with those above" in report

    # Editing the stages' code makes every decision again, in one run of the same command.
    stages = root / "workflow/manymodels/results/stages.py"
    stages.write_text(stages.read_text() + "\n# edited\n")
    again = snakemake(root)
    assert "stage_decision 2" in again.stdout + again.stderr  # rung 0 and rung 1: each decision again
