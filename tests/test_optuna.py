"""Bayesian optimisation as cached stages: the decisions propose what one Optuna study run by hand
proposes, continue it when n_trials grows, and the plan fits each batch's trials on every fold."""

from __future__ import annotations

import copy
import json
import math

import optuna
import pytest
from conftest import TINY_CONFIG
from test_plan import plan_of, scores, tiny

from manymodels import ConfigError
from manymodels.search import check_experiment
from manymodels.search.optuna import configuration, optuna_decision
from manymodels.task.score import write_row

METRICS = {"acc": {"greater_is_better": True, "on": "test"}}
DISTRIBUTIONS = {"C": {"loguniform": [0.001, 100]}, "k": {"randint": [1, 6]}, "kind": {"choice": ["a", "b"]}}
FAMILY = {"estimator": "sklearn.linear_model.LogisticRegression", "kwargs": {"max_iter": 100}, "fit_kwargs": {}}
FOLDS = ["0", "1", "2"]


def objective(params: dict, fold: str) -> float:
    """A score with an optimum (C = 3, k = 4, kind b) that differs a little from fold to fold."""
    return (-(math.log10(params["C"]) - 0.5) ** 2 - abs(params["k"] - 4) / 4 - (params["kind"] == "a") / 3
            + 0.01 * int(fold))


def write_scores(tmp_path, trials: list[dict], failing: set[int] = frozenset()) -> list[str]:
    """Score files of each trial's configuration on every fold (all NaN for the trials in ``failing``)."""
    files = []
    for trial in trials:
        for fold in FOLDS:
            path = tmp_path / "scores" / "clf" / trial["config_id"] / f"fold-{fold}.parquet"
            failed = trial["number"] in failing
            if not path.exists():
                write_row({"model": "clf", "config_id": trial["config_id"], "fold": fold, "n_train": 80, "n_test": 20,
                           "status": "failed" if failed else "ok",
                           "acc": math.nan if failed else objective(trial["params"], fold)}, METRICS, str(path))
            files.append(str(path))
    return list(dict.fromkeys(files))


def run_decisions(tmp_path, sizes: list[int], *, sampler="TPESampler", sampler_kwargs=None, seed=0,
                 failing=frozenset(), folder="optuna") -> list[dict]:
    """The decisions of the batches, one after another, as the workflow makes them."""
    decisions, previous = [], []
    for batch, size in enumerate(sizes):
        out = tmp_path / folder / f"batch-{batch}.json"
        files = write_scores(tmp_path, decisions[-1]["trials"], failing) if decisions else []
        optuna_decision(score_files=files, previous=previous, model="clf", batch=batch, size=size, sampler=sampler,
                       sampler_kwargs={"n_startup_trials": 4} if sampler_kwargs is None else sampler_kwargs, seed=seed,
                       distributions=DISTRIBUTIONS, family=FAMILY, metric_names=["acc"], metric="acc",
                       greater_is_better=True, optuna_version=optuna.__version__, out=str(out))
        decisions.append(json.loads(out.read_text()))
        previous = [str(out)]
    return decisions


def by_hand(sizes: list[int], *, sampler="TPESampler", sampler_kwargs=None, seed=0, failing=frozenset()) -> list[dict]:
    """One study run by hand: ask a batch, tell each trial its mean CV score in trial order, repeat."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"n_startup_trials": 4} if sampler_kwargs is None else sampler_kwargs
    study = optuna.create_study(direction="maximize", sampler=getattr(optuna.samplers, sampler)(seed=seed, **kwargs))
    space = {"C": optuna.distributions.FloatDistribution(0.001, 100, log=True),
             "k": optuna.distributions.IntDistribution(1, 5),
             "kind": optuna.distributions.CategoricalDistribution(["a", "b"])}
    proposed = []
    for size in sizes:
        asked = [study.ask(space) for _ in range(size)]
        for trial in asked:
            if trial.number in failing:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, sum(objective(trial.params, fold) for fold in FOLDS) / len(FOLDS))
        proposed += [trial.params for trial in asked]
    return proposed


@pytest.mark.parametrize("sampler", ["TPESampler", "RandomSampler"])
def test_the_decisions_propose_what_one_study_run_by_hand_proposes(tmp_path, sampler):
    sizes = [4, 4, 4, 3]
    decisions = run_decisions(tmp_path, sizes, sampler=sampler,
                            sampler_kwargs={"n_startup_trials": 4} if sampler == "TPESampler" else {})
    trials = [t for v in decisions for t in v["trials"]]
    assert [t["number"] for t in trials] == list(range(15))
    assert [t["params"] for t in trials] == by_hand(sizes, sampler=sampler,
                                                    sampler_kwargs={"n_startup_trials": 4} if sampler == "TPESampler" else {})
    # Each trial's configuration is the one a grid point with those parameters would be.
    assert all(t["config_id"] == configuration("clf", FAMILY, t["params"])["config_id"] for t in trials)
    # A decision tells the batch before it, in trial order, its mean CV score.
    assert [t["number"] for t in decisions[2]["told"]] == [4, 5, 6, 7]
    assert decisions[2]["told"][0]["value"] == pytest.approx(sum(objective(trials[4]["params"], f) for f in FOLDS) / 3)
    # The study learns: TPE's later batches score better than its random start-up batch.
    if sampler == "TPESampler":
        mean = lambda batch: sum(objective(t["params"], "0") for t in decisions[batch]["trials"]) / len(decisions[batch]["trials"])  # noqa: E731
        assert mean(3) > mean(0)


def test_a_trial_whose_every_fit_failed_is_told_as_failed(tmp_path):
    decisions = run_decisions(tmp_path, [3, 3, 3], failing={1, 4})
    assert [t["params"] for v in decisions for t in v["trials"]] == by_hand([3, 3, 3], failing={1, 4})
    assert decisions[1]["told"][1] == {"number": 1, "config_id": decisions[0]["trials"][1]["config_id"], "value": None}


def test_raising_n_trials_continues_the_study_and_keeps_the_trials_made(tmp_path):
    """n_trials 10 in batches of 4 asks 4, 4, 2; raised to 12, the last batch asks 4, whose first
    two are the two asked before (same configurations: their fits are reused)."""
    short = run_decisions(tmp_path / "short", [4, 4, 2])
    grown = run_decisions(tmp_path / "grown", [4, 4, 4])
    without_study = lambda decisions: [{k: v for k, v in d.items() if k != "study"} for d in decisions]  # noqa: E731
    assert without_study(short[:2]) == without_study(grown[:2])  # (the study's pickle holds the trials' times)
    assert short[2]["trials"] == grown[2]["trials"][:2]
    assert [t["params"] for v in grown for t in v["trials"]] == by_hand([4, 4, 4])


def optuna_config(**optuna_settings) -> dict:
    config = tiny(models={"gmm": {"estimator": "sklearn.mixture.GaussianMixture",
                                  "kwargs": {"n_init": 1, "random_state": 0},
                                  "optuna": {"n_trials": 5, "batch": 2, "seed": 3,
                                             "distributions": {"n_components": {"randint": [2, 5]},
                                                               "covariance_type": {"choice": ["full", "diag"]}},
                                             **optuna_settings}}},
                  selection={"metric": "ars"})
    return config


def decisions_reader(decisions: dict[str, dict]):
    asked = []

    def read(folder, stage):
        asked.append((folder, stage))
        return decisions[stage]

    read.asked = asked
    return read


def test_the_plan_fits_each_batch_s_trials_on_every_fold_and_gathers_them_in_their_own_shard():
    trial = lambda n, cid, p: {"number": n, "config_id": cid, "params": p}  # noqa: E731
    records = {cid: {"model": "gmm", "config_id": cid, "estimator": "sklearn.mixture.GaussianMixture",
                     "kwargs": {}, "fit_kwargs": {}, "params": {"n_components": n}}
               for cid, n in [("a" * 10, 2), ("b" * 10, 3), ("c" * 10, 4)]}
    decisions = {"gmm/batch-0": {"trials": [trial(0, "a" * 10, {}), trial(1, "b" * 10, {})],
                                "configurations": [records["a" * 10], records["b" * 10]]},
                "gmm/batch-1": {"trials": [trial(2, "c" * 10, {}), trial(3, "a" * 10, {})],
                                "configurations": [records["c" * 10], records["a" * 10]]},
                "gmm/batch-2": {"trials": [trial(4, "b" * 10, {})], "configurations": [records["b" * 10]]}}
    read = decisions_reader(decisions)
    plan = plan_of(optuna_config(), decisions=read)
    assert plan.tasks == [] and plan.staged and [s.key for s in plan.searches] == ["optuna"]
    assert plan.stage_decisions() == [f"<results>/optuna/gmm/batch-{b}.json" for b in range(3)]
    assert plan.planned_fits() == 5 * 4  # n_trials x (3 folds + every row: ars... and in-sample bic)
    # The first batch reads nothing; each later one its previous decision and that batch's scores.
    assert plan.decision_inputs("optuna", "gmm/batch-0") == {"score_files": [], "previous": []}
    assert read.asked == []
    assert plan.decision_inputs("optuna", "gmm/batch-2") == {
        "score_files": scores("gmm", "c" * 10, ["0", "1", "2"]) + scores("gmm", "a" * 10, ["0", "1", "2"]),
        "previous": ["<results>/optuna/gmm/batch-1.json"]}
    params = plan.decision_params("optuna", "gmm/batch-2")
    assert params["function"] == "manymodels.search.optuna:optuna_decision"
    assert params["kwargs"]["size"] == 1 and params["kwargs"]["seed"] == 3 and params["kwargs"]["sampler"] == "TPESampler"
    assert plan.decision_params("optuna", "gmm/batch-0")["kwargs"]["size"] == 2
    # A trial's fit job finds its configuration in the decision that proposed it, reading no later decision.
    read.asked.clear()
    assert plan.fit_params("gmm", "a" * 10, "0")["task"]["params"] == {"n_components": 2}
    assert read.asked == [("optuna", "gmm/batch-0")]
    assert plan.proposed_configurations() == {("gmm", cid * 10) for cid in "abc"}
    # Every distinct configuration proposed, once, on every fold (and every row for in-sample BIC).
    assert "trials-gmm" in plan.shards
    folds = ["0", "1", "2", "full"]
    assert plan.shard_score_files("trials-gmm") == [f for cid in ("a", "b", "c") for f in scores("gmm", cid * 10, folds)]


def prefixed_optuna(distributions: dict, kwargs=None, **spec) -> dict:
    steps = [{"name": "pca", "estimator": "sklearn.decomposition.PCA"},
             {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}]
    kwargs = {"pca__random_state": 0, "pca__n_components": 2} if kwargs is None else kwargs
    return tiny(models={"pca_lr": {"pipeline": steps, "kwargs": kwargs,
                                   "optuna": {"n_trials": 4, "batch": 2, "seed": 0, "distributions": distributions},
                                   **spec}},
                metrics={"accuracy": "accuracy"}, selection={"metric": "accuracy"})


def test_trials_that_set_only_the_final_step_share_one_prefix_per_fold():
    record = lambda cid, c: {"model": "pca_lr", "config_id": cid, "estimator": [], "kwargs": {},  # noqa: E731
                             "fit_kwargs": {}, "params": {"clf__C": c}}
    decisions = {"pca_lr/batch-0": {"configurations": [record("a" * 10, 0.1), record("b" * 10, 1.0)]},
                 "pca_lr/batch-1": {"configurations": [record("c" * 10, 5.0)]}}
    plan = plan_of(prefixed_optuna({"clf__C": {"loguniform": [0.01, 10]}}), decisions=decisions_reader(decisions))
    shared = {plan.shared_prefix("pca_lr", cid * 10, fold)["prefix_id"] for cid in "abc" for fold in ("0", "2")}
    assert len(shared) == 1
    (pid,) = shared
    assert plan.prefix_params("pca_lr", pid)["task"]["options"] == {"pca__random_state": 0, "pca__n_components": 2}
    assert plan.planned_prefixes() == len([f for f in plan.task_folds if f != "all"])
    assert plan.fit_inputs("pca_lr", "c" * 10, "1")["prefix_model"] == f"<results>/prefixes/pca_lr/{pid}/fold-1.joblib"
    assert plan.score_inputs("pca_lr", "c" * 10, "1")["prefix_test"] == f"<results>/prefixes/pca_lr/{pid}/fold-1.test.parquet"
    assert plan.fit_params("pca_lr", "c" * 10, "1")["provenance"]["prefix"] == "X"
    # A trial that sets a prefix step's parameter has a prefix of its own, and none is shared; so too
    # with share_prefix: false.
    for config in (prefixed_optuna({"clf__C": {"loguniform": [0.01, 10]}, "pca__n_components": {"randint": [1, 3]}},
                                   kwargs={"pca__random_state": 0}),
                   prefixed_optuna({"clf__C": {"loguniform": [0.01, 10]}}, share_prefix=False)):
        plan = plan_of(config, decisions=decisions_reader(decisions))
        assert plan.prefix_definitions == {} and plan.shared_prefix("pca_lr", "a" * 10, "0") is None


def test_raising_n_trials_leaves_the_earlier_decisions_as_they_were():
    before = plan_of(optuna_config(n_trials=5))
    after = plan_of(optuna_config(n_trials=8))
    assert [before.decision_params("optuna", f"gmm/batch-{b}") for b in range(2)] == [
        after.decision_params("optuna", f"gmm/batch-{b}") for b in range(2)]
    assert before.decision_params("optuna", "gmm/batch-2")["kwargs"]["size"] == 1
    assert after.decision_params("optuna", "gmm/batch-2")["kwargs"]["size"] == 2
    assert len(after.stage_decisions()) == 4


@pytest.mark.parametrize("change, message", [
    ({"racing": {"burn_in": 2}}, "models.gmm.optuna: Bayesian optimisation with racing is not supported"),
    ({"nested": {"outer": {"splitter": "KFold", "n_splits": 2}}}, "Bayesian optimisation with nested"),
    ({"optuna": {"distributions": {"n_componentz": {"randint": [2, 5]}}}},
     "models.gmm.optuna.distributions.n_componentz: sklearn.mixture.GaussianMixture does not accept parameter 'n_componentz'; did you mean 'n_components'"),
    ({"optuna": {"distributions": {"means_init": {"choice": [[1, 2], [3, 4]]}}}},
     "models.gmm.optuna.distributions.means_init: choice: Bayesian optimisation chooses among plain values"),
    ({"optuna": {"sampler": "TPESamplr"}}, "models.gmm.optuna.sampler: 'TPESamplr' is not a sampler of optuna.samplers"),
    ({"optuna": {"sampler": "RandomSampler", "sampler_kwargs": {"n_startup_trials": 4}}},
     "models.gmm.optuna.sampler_kwargs: RandomSampler does not accept 'n_startup_trials'"),
])
def test_a_config_bayesian_optimisation_cannot_run_is_one_clear_error(change, message):
    config = optuna_config()
    if "optuna" in change:
        config["models"]["gmm"]["optuna"].update(change["optuna"])
    else:
        config.update(copy.deepcopy(change))
    from test_plan import with_defaults

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        check_experiment(config=with_defaults(config), config_file="exp.yaml")


def test_selection_settings_may_name_the_parameters_optuna_searches():
    config = optuna_config()
    config["selection"] = {"metric": "ars", "simplest": ["n_components"]}
    config["models"]["gmm"]["plot"] = {"x": "n_components"}
    from test_plan import with_defaults

    assert check_experiment(config=with_defaults(config), config_file="exp.yaml")["tasks"] == []
    assert TINY_CONFIG["models"]["gmm"].get("optuna") is None
