import math

import numpy as np
import pandas as pd
import pytest

from manymodels.results.aggregate import aggregate_scores, param_table, summarise, tidy_scores
from manymodels.results.selection import choose
from manymodels.experiment.config import metric_specs
from manymodels.task.score import write_row

METRICS = metric_specs({
    "ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True},
    "bic": {"method": "bic", "greater_is_better": False},
})
CONFIGS = [
    {"model": "gmm", "config_id": f"{i:010x}", "estimator": "e.E", "kwargs": {}, "params": {"k": k}}
    for i, k in enumerate([1, 2, 3])
]
# CV ARS per configuration over 3 folds; the 'full' fit gives the in-sample BIC.
ARS = {1: [0.5, 0.6, 0.7], 2: [0.8, 0.9, 0.7], 3: [0.9, 0.6, float("nan")]}
BIC = {1: 30.0, 2: 20.0, 3: 25.0}


@pytest.fixture
def score_files(tmp_path):
    files = []
    for config in CONFIGS:
        k = config["params"]["k"]
        for fold, ars in [("0", ARS[k][0]), ("1", ARS[k][1]), ("2", ARS[k][2]), ("full", float("nan"))]:
            failed = math.isnan(ars) and fold != "full"
            row = {"model": "gmm", "config_id": config["config_id"], "fold": fold,
                   "status": "failed" if failed else "ok", "error_type": "ValueError" if failed else None,
                   "error": "boom" if failed else None, "fit_seconds": 0.1,
                   "ars": ars, "bic": BIC[k] if fold == "full" else 100.0}
            path = tmp_path / "scores" / "gmm" / config["config_id"] / f"fold-{fold}.parquet"
            write_row(row, METRICS, str(path))
            files.append(str(path))
    return files


def test_tidy_table_has_params_metrics_and_ordered_rows(tmp_path, score_files):
    aggregate_scores(score_files=score_files[::-1], configs=CONFIGS, metrics=METRICS,
                     out_scores=str(tmp_path / "scores.parquet"), out_summary=str(tmp_path / "summary.parquet"),
                     out_configs=str(tmp_path / "configs.tsv"))
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(scores) == 12
    assert list(scores.columns[:8]) == ["model", "config_id", "params", "k", "fold", "status", "ars", "bic"]
    assert list(scores["fold"][:4]) == ["0", "1", "2", "full"]
    assert list(scores["k"]) == [1] * 4 + [2] * 4 + [3] * 4
    configs = pd.read_csv(tmp_path / "configs.tsv", sep="\t")
    assert list(configs.columns) == ["model", "config_id", "estimator", "params", "k", "kwargs"] and len(configs) == 3


def test_gathered_shards_aggregate_like_the_score_files(tmp_path, score_files, monkeypatch):
    from manymodels.results import aggregate
    from manymodels.results.aggregate import gather_scores, read_scores

    monkeypatch.setattr(aggregate, "READ_CHUNK", 5)  # several dataset scans per read
    shards = [str(tmp_path / "shard-a.parquet"), str(tmp_path / "shard-b.parquet")]
    gather_scores(score_files=score_files[:7], metric_names=list(METRICS), out=shards[0])
    gather_scores(score_files=score_files[7:], metric_names=list(METRICS), out=shards[1])
    direct, gathered = read_scores(score_files, list(METRICS)), read_scores(shards, list(METRICS))
    pd.testing.assert_frame_equal(direct, gathered)
    assert len(direct) == 12 and gathered.dtypes.equals(read_scores(score_files[:1], list(METRICS)).dtypes)
    assert read_scores([], list(METRICS)).empty


@pytest.mark.parametrize("n_files, digits", [(0, 0), (216, 0), (1000, 0), (1001, 1), (9552, 1), (16000, 1),
                                             (16001, 2), (100_000, 2)])
def test_shards_hold_about_a_thousand_files(n_files, digits):
    from manymodels.experiment.layout import shard_digits

    assert shard_digits(n_files) == digits


def test_summary_statistics_over_cv_folds(score_files):
    from manymodels.results.aggregate import read_scores

    scores = tidy_scores(read_scores(score_files, list(METRICS)), CONFIGS, list(METRICS))
    summary = summarise(scores, CONFIGS, list(METRICS)).set_index("k")
    assert summary.loc[1, "ars_mean"] == pytest.approx(0.6)
    assert summary.loc[1, "ars_std"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))
    assert summary.loc[1, "ars_sem"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1) / math.sqrt(3))
    assert (summary.loc[3, "n_ok"], summary.loc[3, "n_failed"]) == (2, 1)
    assert summary.loc[3, "ars_mean"] == pytest.approx(0.75)
    assert summary.loc[2, "bic_full"] == 20.0 and math.isnan(summary.loc[2, "ars_full"])


def test_best_by_each_criterion_and_one_standard_error_choice(score_files):
    from manymodels.results.aggregate import read_scores

    scores = tidy_scores(read_scores(score_files, list(METRICS)), CONFIGS, list(METRICS))
    summary = summarise(scores, CONFIGS, list(METRICS))
    choice = choose(summary, metrics=METRICS, selection_metric="ars", simplest=["k"])["models"]["gmm"]
    assert choice["best"]["ars"]["params"] == {"k": 2}
    assert choice["best"]["bic"]["params"] == {"k": 2} and choice["best"]["bic"]["by"] == "bic_full"
    # Best mean 0.8 with SE 0.0577: k=3 (0.75) is within one SE, k=1 (0.6) is not; k=2 < k=3 is simpler.
    assert choice["one_se"]["params"] == {"k": 2}
    assert choice["chosen"]["model_file"] == f"fits/gmm/{CONFIGS[1]['config_id']}/fold-full.joblib"
    overall = choose(summary, metrics=METRICS, selection_metric="ars", simplest=["k"])["overall"]
    assert overall["model"] == "gmm" and overall["config_id"] == CONFIGS[1]["config_id"]
    without = choose(summary, metrics=METRICS, selection_metric="ars", simplest=[])["models"]["gmm"]
    assert without["one_se"] is None and without["chosen"]["params"] == {"k": 2}


def test_one_standard_error_prefers_the_simpler_configuration():
    summary = pd.DataFrame({"model": "m", "config_id": ["a", "b"], "params": ['{"k":5}', '{"k":2}'], "k": [5, 2],
                            "n_ok": 3, "n_failed": 0,
                            "ars_mean": [0.80, 0.78], "ars_sem": [0.05, 0.01], "ars_se_corrected": [0.05, 0.01],
                            "bic_full": [1.0, 2.0]})
    choice = choose(summary, metrics=METRICS, selection_metric="ars", simplest=["k"], rule="one_se")["models"]["m"]
    assert choice["best"]["ars"]["config_id"] == "a"
    assert choice["one_se"]["config_id"] == "b" and choice["chosen"]["config_id"] == "b"


def test_mixed_type_parameters_are_stored_as_text():
    configs = [{"model": "m", "config_id": "a", "params": {"p": "sqrt"}},
               {"model": "m", "config_id": "b", "params": {"p": 0.5}},
               {"model": "m", "config_id": "c", "params": {"q": 1}}]
    table = param_table(configs)
    assert list(table["p"][:2]) == ["sqrt", "0.5"] and pd.isna(table["p"][2])
    assert table["q"].isna().sum() == 2


PARAMS = [  # two families sharing some parameter names, with nulls, ints, floats, bools, text and lists
    {"model": "forest", "config_id": "a", "params": {"max_depth": None, "max_features": "sqrt", "bootstrap": True}},
    {"model": "forest", "config_id": "b", "params": {"max_depth": 6, "max_features": 0.3, "bootstrap": False}},
    {"model": "boost", "config_id": "c", "params": {"max_leaf_nodes": 15, "learning_rate": 0.1, "max_depth": 3}},
    {"model": "sgd", "config_id": "d", "params": {"features": ["x1", "x2"], "alpha": 1}},
    {"model": "sgd", "config_id": "e", "params": {"features": ["x1"], "alpha": 0.5}},
]


def test_parameter_columns_keep_their_types_and_params_round_trips(tmp_path):
    import json

    table = param_table(PARAMS)
    assert str(table["max_depth"].dtype) == "Int64" and str(table["max_leaf_nodes"].dtype) == "Int64"
    assert table["max_depth"].tolist()[1:3] == [6, 3] and pd.isna(table["max_depth"][0])
    assert table["learning_rate"].dtype == "float64" and table["alpha"].tolist()[3:] == [1.0, 0.5]
    assert str(table["bootstrap"].dtype) == "boolean" and table["bootstrap"].tolist()[:2] == [True, False]
    assert table["features"].tolist()[3:] == [["x1", "x2"], ["x1"]]
    # Written and read back, the columns keep their types and params gives the exact grid points.
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    back = pd.read_parquet(path)
    assert str(back["max_depth"].dtype) == "Int64" and str(back["bootstrap"].dtype) == "boolean"
    assert [json.loads(p) for p in back["params"]] == [c["params"] for c in PARAMS]
    assert type(json.loads(back["params"][2])["max_leaf_nodes"]) is int


def test_family_parameters_are_only_its_own():
    from manymodels.results.aggregate import family_params, param_columns

    table = param_table(PARAMS).assign(n_ok=1)
    assert param_columns(table) == ["max_depth", "max_features", "bootstrap", "max_leaf_nodes", "learning_rate",
                                    "features", "alpha"]
    assert family_params(table, "forest") == ["max_depth", "max_features", "bootstrap"]
    assert family_params(table, "sgd") == ["features", "alpha"]


def test_tasks_are_sharded_by_config_id_prefix():
    from manymodels.experiment.layout import shard_tasks

    tasks = [{"config_id": f"{i:03x}{'0' * 7}"} for i in range(4096)]
    assert list(shard_tasks(tasks[:100], n_folds=6)) == ["all"]
    shards = shard_tasks(tasks, n_folds=6)  # 24,576 files: 2 hex digits, 256 shards of 16 tasks
    assert len(shards) == 256 and all(len(members) == 16 for members in shards.values())
    assert all(t["config_id"].startswith(name) for name, members in shards.items() for t in members)


def test_metrics_a_family_has_no_value_of_are_named_with_their_reason():
    from manymodels.results.aggregate import uncomputed_metrics

    no_predict = "ars: AttributeError: DBSCAN has no predict, so it cannot label rows it was not fitted on: x"
    scores = pd.DataFrame({
        "model": ["km", "km", "db", "db", "db", "gone"],
        "fold": ["0", "full", "0", "1", "full", "0"],
        "status": ["ok", "ok", "ok", "ok", "ok", "failed"],
        "score_error": [None, None, no_predict, f"sil: ValueError: one label; {no_predict}", None, None],
        "ars": [0.5, float("nan"), float("nan"), float("nan"), float("nan"), float("nan")],
        "sil": [0.4, 0.5, 0.3, float("nan"), 0.2, float("nan")],
    })
    metrics = {"ars": {"on": "test"}, "sil": {"on": "test"}}
    missing = uncomputed_metrics(scores, metrics)
    # km has ars on its CV fold; a failed family is the failures' business; db's sil has one value.
    assert missing.to_dict("records") == [
        {"model": "db", "metric": "ars", "reason": no_predict.removeprefix("ars: ")}]


def test_gathering_refuses_a_score_file_of_another_task(tmp_path, score_files):
    from manymodels.results.aggregate import gather_scores
    from manymodels.task.io import IntegrityError

    a, b = score_files[0], score_files[5]
    data_a, data_b = open(a, "rb").read(), open(b, "rb").read()
    open(a, "wb").write(data_b)
    open(b, "wb").write(data_a)
    with pytest.raises(IntegrityError, match=r"fold-0\.parquet: it holds the row of gmm 0000000001 fold 1, not that "
                                             r"of gmm 0000000000 fold 0; run `manymodels verify --repair`"):
        gather_scores(score_files=score_files, metric_names=list(METRICS), out=str(tmp_path / "shard.parquet"))
