"""Real snakemake runs of tiny experiments: outputs, invalidation, failures as data, config errors."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG
from manymodels.experiment.data import resolve_source
from manymodels.experiment.tasks import config_id

from workflow_helpers import comparable, copy_run, job_counts, make_workflow, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration

ESTIMATOR = "sklearn.mixture.GaussianMixture"
# Shards of about 4 score files (the default is 1,000), so the tiny grid's 16 score files fall into
# several shards and every invalidation test below also checks that a rerun plans only the shards
# whose tasks changed and that the shards it leaves alone are truly up to date.
SHARD_FILES = "4"


@pytest.fixture(scope="module", autouse=True)
def small_shards():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MANYMODELS_SHARD_FILES", SHARD_FILES)
        yield


@pytest.fixture(scope="module")
def base_config():
    """The tiny experiment, reading penguins from a CSV file in the working directory."""
    config = copy.deepcopy(TINY_CONFIG)
    config["data"]["source"] = "penguins.csv"
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory, base_config):
    """A completed run of the base config (4 configurations x (3 folds + full))."""
    root = make_workflow(tmp_path_factory.mktemp("finished") / "wf", base_config)
    shutil.copy(resolve_source("penguins"), root / "penguins.csv")
    result = snakemake(root)
    return root, result


@pytest.fixture
def rerun(finished, tmp_path, base_config):
    """A copy of the finished run to change, and the config to change it with."""
    root = copy_run(finished[0], tmp_path / "wf")
    return root, copy.deepcopy(base_config)


def ids(config, points):
    kwargs = config["models"]["gmm"]["kwargs"]
    return {config_id(ESTIMATOR, kwargs, p) for p in points}


def scheduled_ids(jobs, rule):
    return {w["config_id"] for r, w in jobs if r == rule}


@pytest.mark.fast
def test_run_writes_tables_plots_and_report(finished):
    root, result = finished
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    assert len(scores) == 16 and set(scores["fold"]) == {"0", "1", "2", "full"}
    assert {"n_components", "covariance_type", "ars", "bic", "status", "error", "fit_seconds"} <= set(scores.columns)
    assert (scores["status"] == "ok").all()
    summary = pd.read_parquet(root / "results/config/summary.parquet")
    assert len(summary) == 4 and {"ars_mean", "ars_std", "ars_sem", "n_ok", "n_failed", "bic_full"} <= set(summary.columns)
    selection = json.loads((root / "results/config/selection.json").read_text())
    assert selection["models"]["gmm"]["chosen"]["model_file"].endswith("fold-full.joblib")
    assert (root / "results/config" / selection["models"]["gmm"]["chosen"]["model_file"]).is_file()
    for metric in ("ars", "bic"):
        assert (root / f"results/config/plots/gmm/{metric}.png").stat().st_size > 10_000
    report = (root / "results/config/report.html").read_text()
    assert "16 fits (configuration x fold), 16 fitted in this run, 0 reused from earlier runs, 0 failed" in report
    configs = pd.read_csv(root / "results/config/configs.tsv", sep="\t")
    assert set(configs["config_id"]) == set(scores["config_id"])
    assert len(list((root / "results/config/fits/gmm").glob("*/fold-*.joblib"))) == 16
    assert "100%) done" in result.stderr + result.stdout


def test_snakemake_report_collects_plots_tables_and_the_selection(rerun):
    root, _ = rerun
    snakemake(root, "--report", "report.html")
    report = (root / "report.html").read_text()
    assert "ars.png" in report and "bic.png" in report
    for page in ("selection.html", "configurations.html", "failures.html"):
        assert page in report
    selection = (root / "results/config/report/selection.html").read_text()
    assert "Ranking of the model families" in selection and "How sure is the choice?" in selection
    assert "practically equivalent" in selection


@pytest.mark.fast
def test_unchanged_rerun_schedules_nothing(rerun):
    root, _ = rerun
    assert planned_jobs(root) == []
    # The shortcut answered that; Snakemake's own DAG agrees.
    out = snakemake(root, "--dry-run", env={**os.environ, "MANYMODELS_NO_SHORTCUT": "1"})
    assert SHORTCUT not in out.stderr and "Nothing to be done" in out.stdout + out.stderr


SHORTCUT = "Nothing changed since the last successful run"


def test_unchanged_rerun_is_answered_without_the_dag(rerun):
    root, _ = rerun
    out = snakemake(root)
    assert SHORTCUT in out.stderr and "Nothing to be done" in out.stderr


def test_the_shortcut_defers_to_snakemake_after_any_change(rerun):
    root, _ = rerun
    removed = root / "results/config/scores.parquet"
    removed.unlink()
    counts = job_counts(planned_jobs(root))
    assert counts["aggregate_scores"] == 1 and counts["score_model"] == 0 and counts["fit_model"] == 0
    assert SHORTCUT not in snakemake(root).stderr and removed.exists()
    assert SHORTCUT in snakemake(root).stderr  # the run that repaired it left a new record
    out = snakemake(root, "--forcerun", "aggregate_scores")
    assert SHORTCUT not in out.stderr and "aggregate_scores" in out.stderr


def test_a_config_check_is_read_back_only_for_the_same_config_code_and_data(rerun):
    """A run or dry run whose config, code, packages and data are those of an earlier run's config
    check reads that check back instead of asking a worker again (its notes are printed again)."""
    root, _ = rerun
    saved = root / ".snakemake/manymodels/config/experiment.json"

    def dry_run_with_planted_note(**env) -> str:
        record = json.loads(saved.read_text())
        record["checked"]["notes"] = ["A note only the saved check has."]
        saved.write_text(json.dumps(record))
        out = snakemake(root, "--dry-run", env={**os.environ, **env})
        return out.stdout + out.stderr

    (root / "results/config/scores.parquet").unlink()  # the results changed: no nothing-to-do shortcut
    assert "A note only the saved check has." in dry_run_with_planted_note()
    assert "A note only the saved check has." not in dry_run_with_planted_note(MANYMODELS_NO_SHORTCUT="1")
    os.utime(root / "penguins.csv")  # the data file as good as changed
    assert "A note only the saved check has." not in dry_run_with_planted_note()
    assert json.loads(saved.read_text())["checked"]["notes"] == []  # the new check, saved for the next run


@pytest.mark.fast
def test_added_grid_values_schedule_only_their_jobs(rerun):
    root, config = rerun
    config["models"]["gmm"]["grid"]["n_components"] = [2, 3, 4]
    write_config(root, config)
    jobs = planned_jobs(root)
    new = ids(config, [{"covariance_type": c, "n_components": 4} for c in ("full", "spherical")])
    assert scheduled_ids(jobs, "fit_model") == new and scheduled_ids(jobs, "score_model") == new
    counts = job_counts(jobs)
    assert counts["fit_model"] == 8 and counts["score_model"] == 8
    assert counts["prepare_data"] == 0 and counts["assign_folds"] == 0
    assert counts["aggregate_scores"] == 1 and counts["write_report"] == 1


SHARDS_KEPT = "shards of score files are as the last successful run left them"


def test_a_rerun_plans_only_the_shards_whose_tasks_changed(rerun, tmp_path):
    root, config = rerun
    shards = {p.name for p in (root / "results/config/shards").glob("scores-*.parquet")}
    assert len(shards) > 1
    config["models"]["gmm"]["grid"]["n_components"] = [2, 3, 4]
    write_config(root, config)
    new = ids(config, [{"covariance_type": c, "n_components": 4} for c in ("full", "spherical")])
    out = snakemake(root, "--dry-run")
    assert SHARDS_KEPT in out.stdout + out.stderr
    gathered = {w["shard"] for r, w in planned_jobs(root) if r == "gather_scores"}
    assert gathered == {i[0] for i in new}  # shards are named by the config_id's first hex digit
    # Snakemake checking every job plans the same fits and scores.
    everything = planned_jobs(root, env={**os.environ, "MANYMODELS_NO_SHORTCUT": "1"})
    assert scheduled_ids(everything, "fit_model") == new and job_counts(everything)["score_model"] == 8
    snakemake(root)
    fresh = make_workflow(tmp_path / "fresh", config)
    shutil.copy(root / "penguins.csv", fresh / "penguins.csv")
    snakemake(fresh)
    assert comparable(pd.read_parquet(root / "results/config/scores.parquet")).equals(
        comparable(pd.read_parquet(fresh / "results/config/scores.parquet")))
    # A gathered file removed since the last run puts its shard, and only it, back in the plan
    # (Snakemake regenerates a missing intermediate file only when something downstream reruns).
    removed = next((root / "results/config/shards").glob("scores-*.parquet"))
    removed.unlink()
    (root / "results/config/scores.parquet").unlink()
    jobs = planned_jobs(root)
    assert [w["shard"] for r, w in jobs if r == "gather_scores"] == [removed.stem.removeprefix("scores-")]
    assert job_counts(jobs)["score_model"] == 0


def test_added_metric_rescores_without_refitting(rerun):
    root, config = rerun
    config["metrics"]["aic"] = {"method": "aic", "greater_is_better": False}
    write_config(root, config)
    counts = job_counts(planned_jobs(root))
    assert counts["fit_model"] == 0 and counts["score_model"] == 16 and counts["aggregate_scores"] == 1
    snakemake(root)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    assert scores.loc[scores["fold"] != "full", "aic"].notna().all()
    assert "0 fitted in this run, 16 reused from earlier runs" in (root / "results/config/report.html").read_text()


def test_edited_scoring_code_rescores_without_refitting(rerun):
    root, _ = rerun
    score_py = root / "workflow/manymodels/task/score.py"
    score_py.write_text(score_py.read_text() + "\n# a change to scoring code\n")
    counts = job_counts(planned_jobs(root))
    assert counts["fit_model"] == 0 and counts["score_model"] == 16 and counts["aggregate_scores"] == 1


@pytest.mark.fast
def test_edited_fitting_code_refits(rerun):
    root, _ = rerun
    fit_py = root / "workflow/manymodels/task/fit.py"
    fit_py.write_text(fit_py.read_text() + "\n# a change to fitting code\n")
    counts = job_counts(planned_jobs(root))
    assert counts["fit_model"] == 16 and counts["score_model"] == 16


def test_changed_fixed_kwarg_refits_under_new_ids(rerun):
    root, config = rerun
    old = ids(config, [{"covariance_type": c, "n_components": n} for c in ("full", "spherical") for n in (2, 3)])
    config["models"]["gmm"]["kwargs"]["n_init"] = 2
    write_config(root, config)
    jobs = planned_jobs(root)
    new = scheduled_ids(jobs, "fit_model")
    assert len(new) == 4 and not new & old and job_counts(jobs)["fit_model"] == 16


def test_changed_data_refits_everything_that_depends_on_it(rerun):
    root, _ = rerun
    data = pd.read_csv(root / "penguins.csv")
    data.loc[0, "bill_length_mm"] += 1.0
    data.to_csv(root / "penguins.csv", index=False)
    counts = job_counts(planned_jobs(root))
    assert counts["prepare_data"] == 1 and counts["assign_folds"] == 1
    assert counts["fit_model"] == 16 and counts["score_model"] == 16


def test_removed_grid_values_refit_nothing_and_leave_the_tables(rerun):
    root, config = rerun
    config["models"]["gmm"]["grid"]["n_components"] = [2]
    write_config(root, config)
    counts = job_counts(planned_jobs(root))
    assert counts["fit_model"] == 0 and counts["score_model"] == 0 and counts["aggregate_scores"] == 1
    snakemake(root)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    summary = pd.read_parquet(root / "results/config/summary.parquet")
    assert set(scores["n_components"]) == {2} and len(scores) == 8 and len(summary) == 2


@pytest.mark.fast
def test_failing_fits_become_rows_and_the_run_goes_on(tmp_path, base_config):
    config = copy.deepcopy(base_config)
    config["data"]["source"] = "penguins"
    config["models"]["gmm"]["grid"] = {"n_components": [2, 400], "covariance_type": ["diag"]}
    root = make_workflow(tmp_path / "wf", config)
    snakemake(root)
    scores = pd.read_parquet(root / "results/config/scores.parquet")
    failed = scores[scores["n_components"] == 400]
    assert len(failed) == 4 and (failed["status"] == "failed").all()
    assert (failed["error_type"] == "ValueError").all() and failed["error"].str.contains("n_components = 400").all()
    assert failed[["ars", "bic"]].isna().all().all()
    assert (scores.loc[scores["n_components"] == 2, "status"] == "ok").all()
    summary = pd.read_parquet(root / "results/config/summary.parquet").set_index("n_components")
    assert summary.loc[400, "n_failed"] == 3 and summary.loc[400, "n_ok"] == 0 and math.isnan(summary.loc[400, "ars_mean"])
    report = (root / "results/config/report.html").read_text()
    assert "Failures (4 fits)" in report and "Expected n_samples &gt;= n_components" in report


@pytest.mark.fast
@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["cv"].update(n_fold=3),
         "cv: unknown key 'n_fold'; valid: n_repeats, n_splits, random_state, shuffle, splitter, test_size"),
        (lambda c: c["cv"].update(n_splits="3"), "cv.n_splits: expected an integer, got '3'"),
        (lambda c: c["metrics"].update(accuracy="acuracy"),
         "metrics.accuracy: 'acuracy' is not allowed; did you mean 'accuracy'?"),
        (lambda c: c["cv"].update(splitter="KFlod"),
         "cv.splitter: 'KFlod' is not a splitter in sklearn.model_selection; did you mean 'KFold'"),
        (lambda c: c["models"]["gmm"].update(estimator="sklearn.mixture.GaussianMixtur"),
         "models.gmm.estimator: module 'sklearn.mixture' has no attribute 'GaussianMixtur'; did you mean "
         "'GaussianMixture'"),
        (lambda c: c["models"]["gmm"]["grid"].update(n_component=[2]),
         "models.gmm.grid.n_component: sklearn.mixture.GaussianMixture does not accept parameter 'n_component'; "
         "did you mean 'n_components'?"),
        (lambda c: c["data"].update(features=["bill_length_mm", "bill_lenght_mm"]),
         "data.features: column 'bill_lenght_mm' is not in data source 'penguins'; did you mean 'bill_length_mm'?"),
        (lambda c: c["models"]["gmm"]["grid"].update(n_components={"from": 5, "to": 2}),
         "models.gmm.grid.n_components: the grid entry"),
        # The data against the families, before any job: a text column, the label's kind.
        (lambda c: c["data"].update(features=["bill_length_mm", "island"]),
         "models.gmm (GaussianMixture): feature column 'island' of data source 'penguins' is not numeric"),
        (lambda c: c.update(models={"ridge": {"estimator": "sklearn.linear_model.Ridge", "grid": {"alpha": [1.0]}}},
                            metrics={"r2": "r2"}, selection={}),
         "data.label: column 'species' of data source 'penguins' is not numeric (e.g. 'Adelie'), but models.ridge "
         "(Ridge) is a regressor"),
    ],
)
def test_bad_config_stops_before_any_job_with_one_line_naming_its_file(tmp_path, base_config, mutate, message):
    """The user's path: `snakemake --configfile F`; the one error line names F, never config.yaml."""
    config = copy.deepcopy(base_config)
    config["data"]["source"] = "penguins"
    mutate(config)
    root = make_workflow(tmp_path / "wf", TINY_CONFIG)
    (root / "experiments").mkdir()
    (root / "experiments/mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(root, "--configfile", "experiments/mine.yaml", check=False)
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("Using workflow")]
    assert len(lines) == 1 and lines[0].startswith(f"experiments/mine.yaml: {message}"), lines
    assert not (root / "results").exists()
