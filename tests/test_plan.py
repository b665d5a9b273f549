"""The plan's file lists, rule by rule, for grid, random, racing, halving, nested and streaming
experiments, without running Snakemake.

Each plan is built as the workflow builds it: the config with the schema's defaults (the same
``snakemake.utils.validate`` the workflow calls), checked by the real
:func:`manymodels.experiment.check.check_experiment`, and stage decisions and selections handed in
as plain readers. Paths are written out literally: they are those of cached results, which a
changed path would plan again.
"""

from __future__ import annotations

import copy
import functools
import json

import pytest
from conftest import TINY_CONFIG

from manymodels import ConfigError
from manymodels.engine.plan import Plan, own_code_paths
from manymodels.search import read_decision, survivors
from manymodels.experiment.schema import SCHEMA_PATH

CODE = {"data": "D", "fit": "F", "score": "S", "aggregate": "A", "plot": "P", "report": "R", "skops": "K", "prefix": "X"}
CONFIGS = "configs"


def with_defaults(config: dict) -> dict:
    from snakemake.utils import validate

    config = copy.deepcopy(config)
    validate(config, str(SCHEMA_PATH))
    return config


@functools.lru_cache(maxsize=None)
def _checked(text: str) -> dict:
    from manymodels.experiment.check import check_experiment

    return check_experiment(config=json.loads(text), config_file="exp.yaml")


def plan_of(config: dict, *, decisions=None, selection=None, per_shard=1000, own_code=None, metric_code=None) -> Plan:
    config = with_defaults(config)
    checked = copy.deepcopy(_checked(json.dumps(config, sort_keys=True)))
    return Plan(config, checked, config_file="exp.yaml", code=CODE,
                own_code=own_code or {model: None for model in config["models"]}, metric_code=metric_code,
                per_shard=per_shard, decisions=decisions, selection=selection)


def tiny(**changes) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config.update(copy.deepcopy(changes))
    return config


def ids(plan: Plan, model: str = "gmm") -> list[str]:
    return [t["config_id"] for t in plan.tasks if t["model"] == model]


def scores(model: str, config_id: str, folds) -> list[str]:
    return [f"<results>/scores/{model}/{config_id}/fold-{fold}.parquet" for fold in folds]


def never(*args):
    raise AssertionError(f"the plan asked a reader it does not need: {args}")


def decisions(kept: dict[tuple[str, str], list[str]], model: str = "gmm"):
    """A reader of decisions: (folder, stage) -> the decision, keeping the configurations given;
    records what was asked."""
    asked = []

    def read(folder, stage):
        asked.append((folder, stage))
        return {"survivors": [{"model": model, "config_id": config_id} for config_id in kept[(folder, stage)]]}

    read.asked = asked
    return read


# A grid: four configurations of one family, three CV folds; BIC (an in-sample metric) fits every
# configuration on every training row too (fold 'full').

def test_a_grid_plans_every_configuration_on_every_fold_and_full():
    plan = plan_of(tiny(), decisions=never, selection=never)
    configs = ids(plan)
    assert len(configs) == 4 and all(len(c) == 10 and int(c, 16) >= 0 for c in configs)
    assert plan.folds == ["0", "1", "2"] and plan.task_folds == ["0", "1", "2", "full"]
    assert plan.shard_files() == ["<results>/shards/scores-all.parquet"]
    assert plan.shard_score_files("all") == [f for c in configs for f in scores("gmm", c, ["0", "1", "2", "full"])]
    assert plan.planned_fits() == 16 and plan.planned_jobs(["all"]) == 32
    assert plan.stage_decisions() == [] and plan.nested_files() == [] and plan.outer_fold_dirs() == []
    assert plan.source_file[0].endswith("penguins.csv") and plan.data == {"features": TINY_CONFIG["data"]["features"], "label": "species"}


def test_split_inputs_name_the_file_that_splits_each_fold():
    plan = plan_of(tiny())
    data = "<results>/data/data.parquet"
    assert plan.split_inputs("2") == {"data": data, "folds": "<results>/data/folds.parquet"}
    assert plan.split_inputs("2~1of9") == {"data": data, "folds": "<results>/data/folds.parquet"}
    assert plan.split_inputs("full") == {"data": data, "folds": "<results>/data/holdout.parquet"}
    assert plan.split_inputs("all") == {"data": data}
    assert plan.split_inputs("o1-2") == {"data": data, "folds": "<results>/data/nested/outer-1.parquet"}


def test_fit_params_carry_the_configuration_and_what_the_fit_depends_on():
    plan = plan_of(tiny(), own_code={"gmm": "mine"})
    config_id = ids(plan)[0]
    params = plan.fit_params("gmm", config_id, "0")
    task = plan.task[("gmm", config_id)]
    assert params["task"] == {key: task[key] for key in ("estimator", "kwargs", "fit_kwargs", "params")}
    assert params["task"]["estimator"] == "sklearn.mixture.GaussianMixture"
    assert params["streaming"] == {}
    assert params["provenance"] == {"code": "F", "version": plan.versions["gmm"], "own_code": "mine"}
    assert plan.fit_params("gmm", config_id, None) == params  # refit_chosen has no fold wildcard
    skops = plan_of(tiny(model_format="skops"))
    assert skops.fit_params("gmm", config_id, "0")["provenance"] == {"code": "F", "version": plan.versions["gmm"],
                                                                      "model_format": "K"}
    assert plan.fit_function("0") == "manymodels.task.fit:fit_task"


def test_an_unknown_configuration_is_named_with_the_config_file():
    with pytest.raises(ConfigError, match=r"^gmm/0123456789 is not a configuration of exp\.yaml$"):
        plan_of(tiny()).fit_params("gmm", "0123456789", "0")


def test_score_code_includes_the_metrics_own_code():
    assert plan_of(tiny()).score_code == "S"
    assert plan_of(tiny(), metric_code="m").score_code == "S+m"


def test_own_code_paths_list_the_estimators_and_metric_functions():
    families, metrics = own_code_paths(with_defaults(tiny()), config_file="exp.yaml")
    assert families == {"gmm": ["sklearn.mixture.GaussianMixture"]}
    assert metrics == ["sklearn.metrics.adjusted_rand_score"]


def test_many_score_files_are_gathered_in_shards_by_config_id_prefix():
    plan = plan_of(tiny(), per_shard=4)  # 16 score files: one hex digit
    assert all(len(name) == 1 for name in plan.shards)
    assert plan.shard_files() == [f"<results>/shards/scores-{name}.parquet" for name in sorted(plan.shards)]
    gathered = [f for name in plan.shards for f in plan.shard_score_files(name)]
    assert sorted(gathered) == sorted(plan_of(tiny()).shard_score_files("all"))
    for name in plan.shards:
        assert all(path.split("/")[3].startswith(name) for path in plan.shard_score_files(name))


def test_without_in_sample_metrics_only_the_chosen_configurations_are_refitted():
    config = tiny(metrics={"ars": TINY_CONFIG["metrics"]["ars"]})
    plan = plan_of(config, selection=never)
    assert plan.task_folds == ["0", "1", "2"] and not plan.full_for_all
    assert plan.final_model == "models/{model}/{config_id}/fold-full.joblib"
    assert plan.refits_after_selection and plan.refit_scores() == []  # no held-out set: nothing to score
    choice = {"model": "gmm", "config_id": ids(plan)[1]}
    selection = {"models": {"gmm": {"chosen": choice}}, "overall": choice}
    assert plan.kept_model_files(selection) == [f"<results>/models/gmm/{choice['config_id']}/fold-full.joblib"]
    assert plan_of(config, selection=lambda: selection).kept_models(["x"]) == [
        f"<results>/models/gmm/{choice['config_id']}/fold-full.joblib", "x"]


def test_with_a_held_out_set_the_chosen_ones_are_scored_on_it_and_the_winner_refitted_on_every_row():
    config = tiny(metrics={"ars": TINY_CONFIG["metrics"]["ars"]}, holdout={"size": 0.2})
    first = {"model": "gmm", "config_id": "0" * 10}
    selection = {"models": {"gmm": {"chosen": first}, "other": {"chosen": None}}, "overall": first}
    plan = plan_of(config, selection=lambda: selection)
    assert plan.refit_scores() == ["<results>/models/gmm/0000000000/fold-full.parquet"]
    assert plan.kept_models([]) == ["<results>/models/gmm/0000000000/fold-full.joblib",
                                    "<results>/models/gmm/0000000000/fold-full.parquet",
                                    "<results>/models/gmm/0000000000/fold-all.joblib"]
    assert plan.winner_full_model() == {"model": "<results>/models/gmm/0000000000/fold-full.joblib",
                                        "meta": "<results>/models/gmm/0000000000/fold-full.json"}
    assert "<results>/plots/test_predictions.png" in plan.plot_files()
    no_winner = plan_of(config, selection=lambda: {"models": {}, "overall": None})
    assert no_winner.winner_full_model() == {} and no_winner.kept_models([]) == []


def test_with_a_held_out_set_and_every_configuration_on_every_row_only_the_winner_is_refitted():
    first = {"model": "gmm", "config_id": "0" * 10}
    selection = {"models": {"gmm": {"chosen": first}}, "overall": first}
    plan = plan_of(tiny(holdout={"size": 0.2}), selection=lambda: selection)
    assert plan.full_for_all and plan.refits_after_selection
    assert plan.kept_models([]) == ["<results>/models/gmm/0000000000/fold-all.joblib"]
    assert plan.winner_full_model() == {"model": "<results>/fits/gmm/0000000000/fold-full.joblib",
                                        "meta": "<results>/fits/gmm/0000000000/fold-full.json"}
    # Their held-out scores are in the tables already: the selection is not even read.
    assert plan_of(tiny(holdout={"size": 0.2}), selection=never).refit_scores() == []


def test_when_every_configuration_is_fitted_on_every_row_nothing_is_refitted_without_a_reason():
    plan = plan_of(tiny(), selection=never)  # BIC: fold 'full' for every configuration
    assert plan.final_model == "fits/{model}/{config_id}/fold-full.joblib"
    assert not plan.refits_after_selection and plan.kept_models(["x"]) == ["x"] and plan.refit_scores() == []
    first = {"model": "gmm", "config_id": "0" * 10}
    best = plan_of(tiny(keep_models="best"), selection=lambda: {"models": {"gmm": {"chosen": first}}, "overall": first})
    assert best.refits_after_selection
    assert best.kept_models([]) == ["<results>/models/gmm/0000000000/fold-full.joblib"]


def test_selection_params_and_plots():
    plan = plan_of(tiny())
    params = plan.selection_params()
    assert list(params) == ["metrics", "selection_metric", "simplest", "rule", "rope", "credibility",
                            "grid_parameters", "final_model", "code"]
    assert params["selection_metric"] == "ars" and params["simplest"] == ["n_components"]
    assert params["grid_parameters"] == {"gmm": ["n_components", "covariance_type"]} and params["code"] == "A"
    assert list(plan.outer_selection_params()) == ["metrics", "selection_metric", "simplest", "rule", "rope",
                                                   "credibility"]
    assert plan.plot_files() == ["<results>/plots/gmm/ars.png", "<results>/plots/gmm/bic.png",
                                 "<results>/plots/cv_scores.png", "<results>/plots/families.png"]


# Random search: a family's configurations are draws; the files are those of any configuration.

def test_a_random_search_plans_its_draws_like_grid_points():
    config = tiny(models={
        "gmm": TINY_CONFIG["models"]["gmm"],
        "drawn": {"estimator": "sklearn.mixture.GaussianMixture", "kwargs": {"n_init": 1},
                  "random": {"n_iter": 3, "random_state": 0, "distributions": {"n_components": {"randint": [2, 6]}}}},
    })
    plan = plan_of(config)
    drawn = ids(plan, "drawn")
    assert len(drawn) == 3 and len(set(drawn)) == 3
    files = plan.shard_score_files("all")
    assert [f for f in files if "/drawn/" in f] == [f for c in drawn for f in scores("drawn", c, ["0", "1", "2", "full"])]
    assert len(files) == 7 * 4
    assert "<results>/plots/drawn/ars.png" in plan.plot_files()
    assert plan.planned_fits() == 7 * 4


# Fold racing: four folds, burn-in 2; the decisions before folds 2 and 3 keep fewer configurations.

def racing_plan(kept):
    config = tiny(cv={**TINY_CONFIG["cv"], "n_splits": 4}, racing={"burn_in": 2})
    read = decisions(kept)
    return plan_of(config, decisions=read), read


def test_racing_plans_each_fold_after_the_burn_in_for_the_configurations_still_in_the_race():
    probe, _ = racing_plan({})
    a, b, c, d = ids(probe)
    plan, read = racing_plan({("race", "fold-2"): [a, b], ("race", "fold-3"): [a]})
    assert [s.key for s in plan.searches] == ["racing"] and plan.staged
    assert plan.stage_decisions() == ["<results>/race/fold-2.json", "<results>/race/fold-3.json"]
    # The decision before fold 2 reads every configuration's burn-in; before fold 3, those fold 2 kept.
    assert plan.decision_inputs("race", "fold-2") == {
        "score_files": [f for k in sorted([a, b, c, d]) for f in scores("gmm", k, ["0", "1"])]}
    assert read.asked == []
    assert plan.decision_inputs("race", "fold-3")["score_files"] == [
        f for k in sorted([a, b]) for f in scores("gmm", k, ["0", "1", "2"])]
    assert read.asked == [("race", "fold-2")]
    params = plan.decision_params("race", "fold-3")
    assert params["function"] == "manymodels.search.racing:race_decision"
    assert params["kwargs"] == {"metric_names": ["ars", "bic"], "metric": "ars", "greater_is_better": True,
                                "alpha": 0.05, "fold": "3"}
    # Each configuration's scores on the folds it reached; on every row only for those that finished.
    assert plan.shard_score_files("all") == (scores("gmm", a, ["0", "1", "2", "3", "full"])
                                             + scores("gmm", b, ["0", "1", "2"])
                                             + scores("gmm", c, ["0", "1"]) + scores("gmm", d, ["0", "1"]))
    assert "<results>/plots/race.png" in plan.plot_files()


def test_a_decision_not_made_yet_stops_only_what_depends_on_it():
    class NotYet(Exception):
        pass

    probe, _ = racing_plan({})
    a, b, *_ = ids(probe)

    def read(folder, stage):
        if stage == "fold-3":
            raise NotYet(stage)
        return {"survivors": [{"model": "gmm", "config_id": a}, {"model": "gmm", "config_id": b}]}

    plan = plan_of(tiny(cv={**TINY_CONFIG["cv"], "n_splits": 4}, racing={"burn_in": 2}), decisions=read)
    assert len(plan.decision_inputs("race", "fold-3")["score_files"]) == 6
    with pytest.raises(NotYet):
        plan.shard_score_files("all")


def test_without_a_staged_search_no_decision_is_read():
    plan = plan_of(tiny(cv={**TINY_CONFIG["cv"], "n_splits": 4}), decisions=never)
    assert plan.searches == [] and not plan.staged and plan.stage_decisions() == []
    assert len(plan.shard_score_files("all")) == 4 * 5
    assert "<results>/plots/race.png" not in plan.plot_files()


# Successive halving: factor 2 on four configurations, three rungs (a quarter, half, all of the rows).

def test_halving_plans_each_rung_for_the_configurations_the_previous_rung_kept():
    config = tiny(halving={"factor": 2, "min_resources": 0.25})
    a, b, c, d = ids(plan_of(config))
    read = decisions({("halving", "rung-0"): [a, b], ("halving", "rung-1"): [a]})
    plan = plan_of(config, decisions=read)
    assert plan.searches[0].rungs == 3 and plan.staged
    assert plan.stage_decisions() == ["<results>/halving/rung-0.json", "<results>/halving/rung-1.json"]
    quarter, half = ["0~1of4", "1~1of4", "2~1of4"], ["0~1of2", "1~1of2", "2~1of2"]
    assert plan.decision_inputs("halving", "rung-0")["score_files"] == [
        f for k in sorted([a, b, c, d]) for f in scores("gmm", k, quarter)]
    assert read.asked == []
    assert plan.decision_inputs("halving", "rung-1")["score_files"] == [
        f for k in sorted([a, b]) for f in scores("gmm", k, half)]
    assert read.asked == [("halving", "rung-0")]
    # The last rung is the full grid's own fits (fold '<k>'), and fold 'full' for in-sample BIC.
    assert plan.shard_score_files("all") == (scores("gmm", a, ["0", "1", "2", "full"]) + scores("gmm", b, half)
                                             + scores("gmm", c, quarter) + scores("gmm", d, quarter))


def test_halving_on_an_estimator_parameter_names_its_value():
    config = tiny(models={"gmm": {**TINY_CONFIG["models"]["gmm"],
                                  "kwargs": {"n_init": 1, "random_state": 0, "max_iter": 100}}},
                  halving={"resource": "max_iter", "factor": 2, "min_resources": 25})
    a, b, c, d = ids(plan_of(config))
    plan = plan_of(config, decisions=decisions({("halving", "rung-0"): [a, b, c, d]}))
    assert plan.searches[0].rungs == 3
    assert plan.decision_inputs("halving", "rung-1")["score_files"][:3] == scores("gmm", a, ["0~max_iter=50", "1~max_iter=50", "2~max_iter=50"])


# Nested CV: two outer folds, each running the whole selection on its own inner folds.

def test_nested_cv_plans_inner_folds_of_every_outer_fold():
    outer = {"splitter": "KFold", "n_splits": 2, "shuffle": True, "random_state": 3}
    plan = plan_of(tiny(nested={"outer": outer}))
    configs = ids(plan)
    assert plan.outer_folds == ["o0", "o1"]
    assert plan.inner_score_files("1") == [f for c in configs for f in scores("gmm", c, ["o1-0", "o1-1", "o1-2"])]
    assert plan.outer_fold_dirs() == ["<results>/nested/outer-0", "<results>/nested/outer-1"]
    assert plan.nested_files() == ["<results>/nested.json"]
    assert plan.planned_fits() == 4 * (4 + 2 * 3) and plan.planned_jobs(["all"]) == 2 * 4 * 4 + 2 * 4 * 2 * 3
    # The inner folds are not gathered with the CV scores: aggregation reads the outer folds' results.
    assert not any("/fold-o" in f for f in plan.shard_score_files("all"))


# Streaming: one task per configuration, fold 'stream', learnt from the generated data file.

def test_streaming_plans_one_task_per_configuration_on_the_stream():
    import yaml

    with open(f"{CONFIGS}/streaming.yaml") as fh:
        config = yaml.safe_load(fh)
    plan = plan_of(config, selection=never)
    configs = ids(plan, "sgd")
    assert len(configs) == 2 * 3 * 2 * 3 * 4
    assert plan.task_folds == ["stream"] and plan.full_for_all and not plan.refits_after_selection
    assert plan.generated_stream and plan.stream_data == "<results>/data/stream.parquet" and plan.source_file == []
    assert plan.split_inputs("stream") == {"data": "<results>/data/stream.parquet"}
    assert plan.shard_score_files("all") == [f for c in configs for f in scores("sgd", c, ["stream"])]
    assert plan.final_model == "fits/{model}/{config_id}/fold-stream.joblib"
    params = plan.fit_params("sgd", configs[0], "stream")
    assert params["streaming"] == {"streaming": {"batch_size": 1000, "drop_fraction": 0.7, "loss": "log_loss",
                                                 "classes": [0, 1]}}
    assert plan.fit_function("stream") == "manymodels.task.streaming:fit_stream_task"
    assert plan.kept_models([]) == []


def test_decision_files_are_read_once_per_version(tmp_path):
    path = tmp_path / "fold-3.json"
    path.write_text(json.dumps({"survivors": [{"model": "gmm", "config_id": "a" * 10}]}))
    assert survivors(read_decision(str(path), 1)) == {("gmm", "a" * 10)}
    path.write_text(json.dumps({"survivors": []}))
    assert survivors(read_decision(str(path), 1)) == {("gmm", "a" * 10)}  # the same version: not read again
    assert survivors(read_decision(str(path), 2)) == frozenset()


# Shared pipeline prefixes: the fit jobs of configurations that differ only in their final step read
# one prefix job's files per fold; a family without a prefix plans as before.

PREFIXED = {
    "data": {"source": "sklearn:iris", "label": "target"},
    "cv": {"splitter": "KFold", "n_splits": 2, "shuffle": True, "random_state": 0},
    "models": {
        "pca_lr": {"pipeline": [{"name": "pca", "estimator": "sklearn.decomposition.PCA"},
                                {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}],
                   "kwargs": {"pca__random_state": 0},
                   "grid": {"pca__n_components": [2, 3], "clf__C": [0.1, 1.0, 10.0]}},
        "lr": {"estimator": "sklearn.linear_model.LogisticRegression", "grid": {"C": [1.0]}},
    },
    "metrics": {"accuracy": "accuracy"},
}


def test_configurations_that_differ_in_their_final_step_share_one_prefix_job_per_fold():
    plan = plan_of(copy.deepcopy(PREFIXED))
    shared = [plan.shared_prefix(t["model"], t["config_id"], "0") for t in plan.tasks if t["model"] == "pca_lr"]
    assert len({p["prefix_id"] for p in shared}) == 2  # one per n_components, whatever C is
    assert plan.planned_prefixes() == 2 * 2
    task = next(t for t in plan.tasks if t["model"] == "pca_lr")
    pid = plan.shared_prefix("pca_lr", task["config_id"], "1")["prefix_id"]
    assert plan.fit_inputs("pca_lr", task["config_id"], "1") == {
        "data": "<results>/data/data.parquet", "folds": "<results>/data/folds.parquet",
        "prefix_model": f"<results>/prefixes/pca_lr/{pid}/fold-1.joblib",
        "prefix_train": f"<results>/prefixes/pca_lr/{pid}/fold-1.train.parquet",
        "prefix_meta": f"<results>/prefixes/pca_lr/{pid}/fold-1.json"}
    assert plan.fit_params("pca_lr", task["config_id"], "1")["provenance"]["prefix"] == "X"
    params = plan.prefix_params("pca_lr", pid)
    assert params["task"]["options"] in ({"pca__random_state": 0, "pca__n_components": 2},
                                         {"pca__random_state": 0, "pca__n_components": 3})
    assert params["provenance"]["code"] == "X"
    # Its score job reads the prefix's output for the fold's rows, and depends on the prefix stage's code.
    assert plan.score_inputs("pca_lr", task["config_id"], "1") == {
        "data": "<results>/data/data.parquet", "folds": "<results>/data/folds.parquet",
        "prefix_train": f"<results>/prefixes/pca_lr/{pid}/fold-1.train.parquet",
        "prefix_test": f"<results>/prefixes/pca_lr/{pid}/fold-1.test.parquet",
        "prefix_meta": f"<results>/prefixes/pca_lr/{pid}/fold-1.json"}
    assert plan.score_provenance("pca_lr", task["config_id"], "1") == "S+prefix:X"
    # A family without steps before its estimator, and fold 'all' (the refit after selection): as before.
    lr = next(t for t in plan.tasks if t["model"] == "lr")
    assert plan.fit_inputs("lr", lr["config_id"], "0") == plan.split_inputs("0")
    assert plan.score_inputs("lr", lr["config_id"], "0") == plan.split_inputs("0")
    assert plan.score_provenance("lr", lr["config_id"], "0") == plan.score_code == "S"
    assert "prefix" not in plan.fit_params("lr", lr["config_id"], "0")["provenance"]
    assert plan.shared_prefix("pca_lr", task["config_id"], "all") is None


def test_share_prefix_false_or_a_derived_seed_fits_the_whole_pipeline():
    off = copy.deepcopy(PREFIXED)
    off["models"]["pca_lr"]["share_prefix"] = False
    assert plan_of(off).prefixes == {}
    seeded = copy.deepcopy(PREFIXED)
    del seeded["models"]["pca_lr"]["kwargs"]  # PCA's random_state would derive from each config_id
    assert plan_of(seeded).prefixes == {}
    with pytest.raises(ConfigError, match="not a shared prefix"):
        plan_of(off).prefix_params("pca_lr", "0123456789")
