import copy
import re

import pytest

from manymodels import ConfigError
from manymodels.experiment.config import check_config, metric_specs, selection_metric


def check(config):
    return check_config(config, config_file="exp.yaml")


def test_valid_config_gives_one_task_per_grid_point(tiny_config):
    tasks = check(tiny_config)
    assert len(tasks) == 4
    assert {t["model"] for t in tasks} == {"gmm"}
    assert tasks[0]["kwargs"] == {"n_init": 1, "random_state": 0}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["models"]["gmm"].update(estimator="sklearn.mixture.NoSuchMixture"),
         r"exp\.yaml: models\.gmm\.estimator: module 'sklearn\.mixture' has no attribute 'NoSuchMixture'"),
        (lambda c: c["models"]["gmm"].update(estimator="sklearn.mixture.GaussianMixtur"),
         r"models\.gmm\.estimator: module 'sklearn\.mixture' has no attribute 'GaussianMixtur'; did you mean "
         r"'GaussianMixture'"),
        (lambda c: c["models"]["gmm"].update(estimator="sklearn.mixtur.GaussianMixture"),
         r"models\.gmm\.estimator: cannot import module 'sklearn\.mixtur' .*; did you mean 'mixture'\?$"),
        (lambda c: c["models"]["gmm"]["grid"].update(n_component=[2]),
         r"models\.gmm\.grid\.n_component: .* does not accept parameter 'n_component'; did you mean 'n_components'\?$"),
        (lambda c: c["metrics"].update(acc="acuracy"),
         r"exp\.yaml: metrics\.acc: 'acuracy' is not a built-in metric; did you mean 'accuracy'\?$"),
        (lambda c: c["selection"].update(metric="bci"),
         r"exp\.yaml: selection\.metric: 'bci' is not one of the metrics; did you mean 'bic'\?$"),
        (lambda c: c["selection"].update(simplest=["n_compnents"]),
         r"exp\.yaml: selection\.simplest: 'n_compnents' is not a searched parameter of any model; did you mean "
         r"'n_components'\?$"),
        (lambda c: c["models"]["gmm"].update(plot={"x": "covariance"}),
         r"exp\.yaml: models\.gmm\.plot\.x: 'covariance' is not a searched parameter of model 'gmm'; did you mean "
         r"'covariance_type'\?$"),
        (lambda c: c["models"]["gmm"].update(estimator="nosuchpackage.Model"),
         r"exp\.yaml: models\.gmm\.estimator: cannot import module 'nosuchpackage'"),
        (lambda c: c["models"]["gmm"]["grid"].update(n_componentz=[2]),
         r"exp\.yaml: models\.gmm\.grid\.n_componentz: sklearn\.mixture\.GaussianMixture does not accept parameter 'n_componentz'"),
        (lambda c: c["models"]["gmm"]["kwargs"].update(n_inits=2),
         r"exp\.yaml: models\.gmm\.kwargs\.n_inits: .* does not accept parameter 'n_inits'"),
        (lambda c: c["models"]["gmm"]["kwargs"].update(n_components=2),
         r"models\.gmm\.grid\.n_components: also fixed in models\.gmm\.kwargs"),
        (lambda c: c["metrics"].update(silly={"method": "no_such_method", "greater_is_better": True}),
         r"exp\.yaml: metrics\.silly\.method: estimator of model 'gmm' has no method 'no_such_method'"),
        (lambda c: c["metrics"].update(f={"function": "sklearn.metrics.nope", "greater_is_better": True}),
         r"exp\.yaml: metrics\.f\.function: module 'sklearn\.metrics' has no attribute 'nope'"),
        (lambda c: c["selection"].update(metric="accuracy"),
         r"exp\.yaml: selection\.metric: 'accuracy' is not one of the metrics; valid: ars, bic$"),
        (lambda c: c["models"]["gmm"]["grid"].update(n_components={"from": 3, "to": 2}),
         r"exp\.yaml: models\.gmm\.grid\.n_components: .*empty grid"),
        (lambda c: c["metrics"].update(fold={"method": "bic", "greater_is_better": False}),
         r"metrics\.fold: metric name 'fold' clashes with a score column"),
        (lambda c: c.update(nested={"outer": {"splitter": "KFold", "n_splits": 3}},
                            selection={"metric": "bic"}),
         r"exp\.yaml: nested: the selection metric 'bic' is in-sample; nested compares scores on held-out folds"),
        (lambda c: c.update(racing={"burn_in": 3, "alpha": 0.05}),
         r"exp\.yaml: racing\.burn_in: 3 is not fewer than the 3 CV folds; nothing would be raced"),
    ],
)
def test_semantic_errors_name_key_and_file(tiny_config, mutate, message):
    config = copy.deepcopy(tiny_config)
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        check(config)


def test_metric_defaults_and_selection_metric(tiny_config):
    specs = metric_specs(tiny_config["metrics"])
    assert specs["ars"]["on"] == "test" and specs["ars"]["response"] == "predict"
    assert specs["bic"]["on"] == "train" and specs["bic"]["needs_y"] is False
    assert selection_metric(tiny_config) == "ars"
    del tiny_config["selection"]
    assert selection_metric(tiny_config) == "ars"


PIPELINE = [
    {"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"},
    {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"},
]


def supervised(models):
    return {"data": {"source": "sklearn:iris", "label": "target"}, "models": models,
            "metrics": {"accuracy": "accuracy"}}


def test_pipeline_families_check_step_parameters():
    tasks = check({**supervised({"lr": {"pipeline": PIPELINE, "grid": {"clf__C": [0.1, 1.0]}}})})
    assert [t["params"] for t in tasks] == [{"clf__C": 0.1}, {"clf__C": 1.0}]
    assert tasks[0]["estimator"][1]["estimator"] == "sklearn.linear_model.LogisticRegression"
    with pytest.raises(ConfigError, match=r"models\.lr\.grid\.C: Pipeline\(scale, clf\) does not accept parameter 'C'"):
        check(supervised({"lr": {"pipeline": PIPELINE, "grid": {"C": [0.1]}}}))
    with pytest.raises(ConfigError, match=r"models\.lr\.pipeline\[1\]\.estimator: cannot import module 'sklearn\.linear_modl'"):
        check(supervised({"lr": {"pipeline": [PIPELINE[0], {"name": "clf", "estimator": "sklearn.linear_modl.X"}],
                                 "grid": {"clf__C": [1]}}}))


def test_random_search_parameters_are_checked():
    random = {"n_iter": 3, "random_state": 0, "distributions": {"clf__Cx": {"uniform": [0.1, 1]}}}
    with pytest.raises(ConfigError, match=r"models\.lr\.random\.distributions\.clf__Cx: .*does not accept"):
        check(supervised({"lr": {"pipeline": PIPELINE, "random": random}}))


def test_builtin_metrics_by_name():
    specs = metric_specs({"auc": "roc_auc", "loss": "log_loss", "err": "rmse"})
    assert specs["auc"]["response"] == ["predict_proba", "decision_function"] and specs["auc"]["greater_is_better"]
    assert specs["loss"]["greater_is_better"] is False and specs["err"]["on"] == "test"
    with pytest.raises(ConfigError, match="'precision' is not a built-in metric"):
        metric_specs({"p": "precision"})


def test_fit_kwargs_enter_the_config_id():
    base = {"pipeline": PIPELINE, "grid": {"clf__C": [1.0]}}
    plain = check(supervised({"lr": base}))[0]["config_id"]
    weighted = check(supervised({"lr": {**base, "fit_kwargs": {"clf__sample_weight": None}}}))[0]["config_id"]
    assert plain != weighted


def columnwise_config(tiny_config):
    config = copy.deepcopy(tiny_config)
    config["models"] = {"lr": {
        "pipeline": [
            {"name": "prep", "columns": [
                {"name": "num", "select": "numeric", "estimator": "sklearn.preprocessing.StandardScaler"},
                {"name": "cat", "select": ["island"], "estimator": "sklearn.preprocessing.OneHotEncoder"}]},
            {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"}],
        "grid": {"clf__C": [1.0], "prep__cat__drop": [None, "first"]}}}
    config["metrics"] = {"accuracy": "accuracy"}
    config["selection"] = {}
    return config


def test_columnwise_steps_are_checked_like_estimators(tiny_config):
    config = columnwise_config(tiny_config)
    assert len(check(config)) == 2
    config["models"]["lr"]["grid"]["prep__cat__dorp"] = ["first"]
    with pytest.raises(ConfigError, match=r"models\.lr\.grid\.prep__cat__dorp: .* does not accept parameter "
                                          r"'prep__cat__dorp'; did you mean 'prep__cat__drop'"):
        check(config)
    config = columnwise_config(tiny_config)
    config["models"]["lr"]["pipeline"][0]["columns"][1]["estimator"] = "sklearn.preprocessing.OneHotEncodr"
    with pytest.raises(ConfigError, match=r"exp\.yaml: models\.lr\.pipeline\[0\]\.columns\[1\]\.estimator: module "
                                          r"'sklearn\.preprocessing' has no attribute 'OneHotEncodr'; did you mean "
                                          r"'OneHotEncoder'\?$"):
        check(config)
    config = columnwise_config(tiny_config)
    config["models"]["lr"]["pipeline"][0]["columns"][0]["kwargs"] = {"with_meen": False}
    with pytest.raises(ConfigError, match=r"models\.lr: cannot build .* with its kwargs: .*with_meen"):
        check(config)


def test_a_factory_is_accepted_and_its_arguments_are_searchable(tiny_config, tmp_path, monkeypatch):
    (tmp_path / "own_models.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n"
        "def scaled_logreg(C=1.0, scale=True):\n"
        "    from sklearn.pipeline import make_pipeline\n"
        "    from sklearn.preprocessing import StandardScaler\n"
        "    steps = [StandardScaler()] if scale else []\n"
        "    return make_pipeline(*steps, LogisticRegression(C=C))\n\n"
        "not_an_estimator = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = columnwise_config(tiny_config)
    config["models"] = {"own": {"estimator": "own_models.scaled_logreg",
                                "grid": {"C": [0.1, 1.0], "scale": [True, False]}}}
    assert [t["params"] for t in check(config)][:2] == [{"C": 0.1, "scale": True}, {"C": 0.1, "scale": False}]
    config["models"]["own"]["estimator"] = "own_models.not_an_estimator"
    with pytest.raises(ConfigError, match=r"models\.own\.estimator: 'own_models\.not_an_estimator' is neither an "
                                          r"estimator class with fit\(\) nor a function that returns an estimator"):
        check(config)


def test_yaml_on_key_of_a_metric_is_on_again_and_other_non_text_keys_are_one_line_errors():
    import yaml

    from manymodels.experiment.schema import normalise_keys

    config = yaml.safe_load("""
metrics:
  ars: {function: sklearn.metrics.adjusted_rand_score, on: train, greater_is_better: true}
models:
  lr: {estimator: sklearn.linear_model.LogisticRegression, kwargs: {class_weight: {0: 1, 1: 5}}, grid: {C: [1]}}
""")
    assert config["metrics"]["ars"][True] == "train"  # what YAML makes of `on: train`
    normalise_keys(config, config_file="exp.yaml")
    assert config["metrics"]["ars"]["on"] == "train" and True not in config["metrics"]["ars"]
    assert config["models"]["lr"]["kwargs"]["class_weight"] == {0: 1, 1: 5}  # values are the user's own
    for text, where in (("models: {lr: {grid: {yes: [1]}}}", "models.lr.grid"), ("data: {3: x}", "data"),
                        ("selection: {on: 1}", "selection")):
        with pytest.raises(ConfigError, match=rf"^exp\.yaml: {re.escape(where)}: key .* is not text .*quote the key"):
            normalise_keys(yaml.safe_load(text), config_file="exp.yaml")


def test_a_data_file_is_looked_up_beside_the_config_first_and_a_missing_one_names_every_place(tmp_path, monkeypatch):
    from manymodels import DataError
    from manymodels.experiment.data import resolve_data_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.csv").write_text("a\n1\n")
    config = {"data": {"source": "mine.csv"}}
    resolve_data_path(config, config_file="configs/exp.yaml")
    assert config["data"]["source"] == "configs/mine.csv"
    (tmp_path / "here.csv").write_text("a\n1\n")
    config = {"data": {"source": "here.csv"}}
    resolve_data_path(config, config_file="configs/exp.yaml")
    assert config["data"]["source"] == "here.csv"  # not beside the config: the working directory
    with pytest.raises(DataError, match=r"^configs/exp\.yaml: data\.source: data file 'gone\.csv' not found \(looked "
                                        r"for 'configs/gone\.csv' and 'gone\.csv', beside the config file first"):
        resolve_data_path({"data": {"source": "gone.csv"}}, config_file="configs/exp.yaml")
    untouched = {"data": {"source": "sklearn:iris"}}
    resolve_data_path(untouched, config_file="configs/exp.yaml")
    assert untouched == {"data": {"source": "sklearn:iris"}}
