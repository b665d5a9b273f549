import json
import shutil

import joblib
import pandas as pd
import pytest

from manymodels.results.aggregate import aggregate_scores
from manymodels.experiment.config import metric_specs
from manymodels.task.prepare import assign_folds, prepare_data, split_holdout
from manymodels.task.fit import fit_task
from manymodels.task.score import score_task
from manymodels.results.store import IntegrityError, Results
from manymodels.experiment.tasks import expand_tasks

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
METRICS = metric_specs({
    "ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True},
    "bic": {"method": "bic", "greater_is_better": False},
})
MODELS = {"gmm": {"estimator": "sklearn.mixture.GaussianMixture", "kwargs": {"random_state": 0}}}


def build_results(root, points, folds=("0", "1", "full"), results=None):
    """A results directory (``root/results``, or ``results``) laid out as the workflow writes it,
    made by the same package functions."""
    results = root / "results" if results is None else results
    data, fold_file = str(results / "data/data.parquet"), str(results / "data/folds.parquet")
    if not (results / "data").exists():
        prepare_data(source="penguins", features=FEATURES, label="species", out_data=data,
                     out_summary=str(results / "data/summary.json"))
        split_holdout(data=data, holdout=None, label="species", out=str(results / "data/holdout.parquet"))
        assign_folds(data=data, holdout=str(results / "data/holdout.parquet"), cv={"splitter": "KFold", "n_splits": 2, "shuffle": True, "random_state": 0},
                     label="species", out_folds=fold_file)
    configs = expand_tasks(MODELS, {"gmm": points})
    score_files = []
    for c in configs:
        for fold in folds:
            stem = f"gmm/{c['config_id']}/fold-{fold}"
            split = str(results / "data/holdout.parquet") if fold == "full" else fold_file
            if not (results / f"scores/{stem}.parquet").exists():
                fit_task(model="gmm", config_id=c["config_id"], fold=fold, estimator=c["estimator"], kwargs=c["kwargs"],
                         params=c["params"], features=FEATURES, label="species", data=data, folds=split,
                         out_model=str(results / f"fits/{stem}.joblib"), out_meta=str(results / f"fits/{stem}.json"))
                score_task(metrics=METRICS, features=FEATURES, label="species", data=data, folds=split,
                           fit_model=str(results / f"fits/{stem}.joblib"), fit_meta=str(results / f"fits/{stem}.json"),
                           out_scores=str(results / f"scores/{stem}.parquet"))
            score_files.append(str(results / f"scores/{stem}.parquet"))
    aggregate_scores(score_files=score_files, configs=configs, metrics=METRICS, out_scores=str(results / "scores.parquet"),
                     out_summary=str(results / "summary.parquet"), out_configs=str(results / "configs.tsv"))
    return results


@pytest.fixture
def results(tmp_path):
    return build_results(tmp_path, [{"n_components": 2}, {"n_components": 3}, {"n_components": 400}])


def test_tasks_table_has_parameters_metrics_and_relative_model_files(results):
    tasks = Results(results).tasks
    assert len(tasks) == 9
    assert {"n_components", "ars", "bic", "status", "error", "fit_seconds", "fold", "model_sha256"} <= set(tasks.columns)
    assert tasks["model_file"].iloc[0] == f"fits/gmm/{tasks['config_id'].iloc[0]}/fold-0.joblib"
    assert (tasks.loc[tasks["n_components"] == 400, "status"] == "failed").all()


def test_opening_and_querying_unpickles_nothing(results, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was unpickled")

    monkeypatch.setattr(joblib, "load", refuse)
    store = Results(results)
    assert len(store.query("n_components == 3 and fold != 'full'")) == 2
    assert len(store.summary) == 3 and len(store.failures()) == 1


def test_a_store_of_ten_thousand_tasks_opens_without_loading_models(tmp_path, monkeypatch):
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("a model was unpickled"))
    (tmp_path / "r").mkdir()
    n = 10_000
    pd.DataFrame({"model": "gmm", "config_id": [f"{i // 6:010x}" for i in range(n)], "k": [i // 6 for i in range(n)],
                  "fold": [str(i % 6) for i in range(n)], "status": "ok", "ars": 0.5,
                  "model_sha256": "0" * 64}).to_parquet(tmp_path / "r/scores.parquet")
    store = Results(tmp_path / "r")
    assert len(store.query("k < 10")) == 60 and store.tasks["model_file"].str.startswith("fits/").all()


def test_load_model_returns_the_fitted_estimator(results):
    store = Results(results)
    row = store.query("n_components == 3 and fold == 'full'").iloc[0]
    model = store.load_model(row)
    assert model.n_components == 3 and model.means_.shape == (3, 4)
    assert store.load_model(row["model_file"]).n_components == 3


@pytest.mark.parametrize("damage", ["modify", "truncate", "replace", "delete"])
def test_damaged_model_files_are_refused_with_their_name(results, damage):
    store = Results(results)
    row = store.query("n_components == 2 and fold == '0'").iloc[0]
    path = results / row["model_file"]
    data = path.read_bytes()
    if damage == "modify":
        path.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "replace":
        joblib.dump({"not": "the model"}, path)
    else:
        path.unlink()
    with pytest.raises(IntegrityError, match=str(path)):
        store.load_model(row)


def test_moved_results_directory_still_works(results, tmp_path):
    moved = tmp_path / "elsewhere" / "copy-of-results"
    moved.parent.mkdir()
    shutil.move(str(results), moved)
    store = Results(moved)
    row = store.query("n_components == 2 and fold == 'full'").iloc[0]
    assert store.load_model(row).n_components == 2
    for name in ("scores.parquet", "summary.parquet"):
        text = pd.read_parquet(moved / name).astype(str).to_csv()
        assert str(tmp_path) not in text, f"{name} stores an absolute path"
    assert str(tmp_path) not in (moved / "configs.tsv").read_text()


def test_stale_artifacts_are_listed_and_pruned_without_touching_current_ones(results, tmp_path):
    build_results(tmp_path, [{"n_components": 2}])  # the config now has one configuration
    store = Results(results)
    stale = store.stale()
    current = pd.read_csv(results / "configs.tsv", sep="\t")["config_id"].tolist()
    assert len(stale) == 4 and all(p.name not in current for p in stale)
    assert {p.parent.parent.name for p in stale} == {"fits", "scores"}
    store.prune()
    assert store.stale() == []
    row = store.query("fold == 'full'").iloc[0]
    assert store.load_model(row).n_components == 2


def test_artifact_bytes_per_family(results):
    sizes = Results(results).artifact_bytes().set_index("artifacts")
    assert sizes.loc["fits", "bytes"] > 0 and sizes.loc["scores", "bytes"] > 0


def test_model_files_are_compressed_and_checksummed(results):
    meta = json.loads(next((results / "fits/gmm").glob("*/fold-full.json")).read_text())
    path = results / "fits/gmm" / meta["config_id"] / "fold-full.joblib"
    assert meta["model_bytes"] == path.stat().st_size
    assert path.read_bytes()[:2] == b"\x78\x01" or path.read_bytes()[:1] == b"\x78"  # zlib stream


def test_numbers_compared_with_fold_are_read_as_fold_names_and_a_bad_query_is_one_line(results):
    from manymodels.results.store import QueryError

    store = Results(results)
    assert store.query("fold == 0").equals(store.query("fold == '0'")) and len(store.query("fold == 0")) == 3
    assert len(store.query("fold in [0, 1] and n_components == 2")) == 2
    with pytest.raises(QueryError) as raised:
        store.query("covariance == 'full'")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("--where \"covariance == 'full'\": ")
    assert "the columns are: model, config_id, params, n_components, fold, status" in message


def with_selection(results):
    from manymodels.results.selection import select_configurations

    select_configurations(summary=str(results / "summary.parquet"), scores=str(results / "scores.parquet"),
                          metrics=METRICS, selection_metric="ars", simplest=["n_components"],
                          out=str(results / "selection.json"), out_comparisons=str(results / "comparisons.parquet"))
    return results


def test_best_gives_params_as_a_dict_and_load_model_takes_what_it_returns(results):
    store = Results(with_selection(results))
    best = store.best()
    assert isinstance(best["params"], dict) and best["params"] == {"n_components": best["n_components"]}
    model = store.load_model(best)  # its fit on every training row, checked
    assert model.n_components == best["params"]["n_components"]
    assert store.load_model(store.best(family="gmm")).n_components == model.n_components
    assert store.best_estimator().n_components == model.n_components


def test_an_unfinished_experiment_says_so_with_its_progress_and_its_leaderboard_so_far(results, monkeypatch):
    from manymodels.results.store import UnfinishedExperiment, leaderboard_so_far, progress

    for name in ("scores.parquet", "summary.parquet", "configs.tsv"):  # stopped before aggregation
        (results / name).unlink()
    with pytest.raises(UnfinishedExperiment, match=r"unfinished: .* 9 fits scored so far\. Rerun the same snakemake"):
        Results(results)
    assert progress(results)["status"] == "unfinished" and progress(results)["scored"] == 9
    table, metric = leaderboard_so_far(results)
    assert metric == "ars" and len(table) == 3 and table["folds_scored"].tolist() == [2, 2, 2]
    assert table["ars_mean"].iloc[0] == table["ars_mean"].max()  # best first
    assert table["failed"].tolist()[-1] == 2  # n_components=400 > rows: every fit failed, last
