import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from manymodels.experiment.estimators import (build_estimator, dotted_paths, estimator_modules, make_estimator,
                                              package_version)
from manymodels.experiment.tasks import estimator_definition

MIXED = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "z": [0.5, 0.1, 0.3, 0.2, 0.9, 0.4],
                      "colour": pd.Categorical(["red", "blue", "red", "green", "blue", "red"])})
Y = np.array([0, 1, 0, 1, 1, 0])

COLUMNWISE = {
    "pipeline": [
        {"name": "prep", "columns": [
            {"name": "num", "select": "numeric", "pipeline": [
                {"name": "scale", "estimator": "sklearn.preprocessing.StandardScaler"}]},
            {"name": "cat", "select": "categorical", "estimator": "sklearn.preprocessing.OneHotEncoder",
             "kwargs": {"handle_unknown": "ignore"}},
        ]},
        {"name": "clf", "estimator": "sklearn.linear_model.LogisticRegression"},
    ],
    "grid": {"clf__C": [1.0]},
}


def test_package_version_names_the_distribution():
    assert package_version("sklearn.mixture.GaussianMixture") == f"scikit-learn=={sklearn.__version__}"


def test_the_check_names_each_familys_versions_reading_the_installed_distributions_once(monkeypatch):
    from importlib import metadata

    from manymodels.experiment.check import estimator_versions

    config = {"models": {"gmm": {"estimator": "sklearn.mixture.GaussianMixture"}, "columnwise": COLUMNWISE,
                         "plain": {"pipeline": [{"name": "kpca", "estimator": "sklearn.decomposition.KernelPCA"},
                                                {"name": "clf", "estimator": "numpy.polynomial.Polynomial"}]}}}
    expected = {name: package_version(estimator_definition(spec)) for name, spec in config["models"].items()}
    asked = []
    read_all = metadata.packages_distributions
    monkeypatch.setattr(metadata, "packages_distributions", lambda: asked.append(1) or read_all())
    assert estimator_versions(config) == expected
    assert expected["plain"] == f"numpy=={np.__version__}, scikit-learn=={sklearn.__version__}"
    assert len(asked) == 2  # sklearn and numpy, not once per estimator (5)


def test_a_columnwise_step_is_a_column_transformer_with_searchable_parameters():
    definition = estimator_definition(COLUMNWISE)
    est = make_estimator(definition, {"prep__cat__drop": "first", "clf__C": 0.5})
    assert isinstance(est, Pipeline) and isinstance(est.named_steps["prep"], ColumnTransformer)
    params = est.get_params(deep=True)
    assert params["prep__cat__drop"] == "first" and params["prep__cat__handle_unknown"] == "ignore"
    assert "prep__num__scale__with_mean" in params and params["prep__remainder"] == "drop"
    est.fit(MIXED, Y)
    names = list(est[:-1].get_feature_names_out())
    assert names == ["num__x", "num__z", "cat__colour_green", "cat__colour_red"]


def test_columns_are_selected_by_name_and_the_rest_passed_through():
    definition = [{"name": "prep", "columns": [{"name": "cat", "select": ["colour"],
                                                 "estimator": "sklearn.preprocessing.OrdinalEncoder"}],
                   "remainder": "passthrough"},
                  {"name": "clf", "estimator": "sklearn.tree.DecisionTreeClassifier"}]
    est = make_estimator(definition).fit(MIXED, Y)
    assert list(est[:-1].get_feature_names_out()) == ["cat__colour", "remainder__x", "remainder__z"]


FACTORY = """
from sklearn.linear_model import LogisticRegression


def make_model(C=1.0, *, solver="lbfgs"):
    return LogisticRegression(C=C, solver=solver)
"""


def test_a_factory_takes_its_arguments_and_the_rest_are_set_as_parameters(tmp_path, monkeypatch):
    (tmp_path / "own_factory.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    est = make_estimator("own_factory.make_model", {"C": 0.25, "max_iter": 50, "solver": "saga"})
    assert (est.C, est.max_iter, est.solver) == (0.25, 50, "saga")


def test_dotted_paths_name_every_import_with_its_key():
    paths = list(dotted_paths(estimator_definition(COLUMNWISE), "models.lr"))
    assert paths == [("models.lr.pipeline[0].columns[0].pipeline[0].estimator", "sklearn.preprocessing.StandardScaler"),
                     ("models.lr.pipeline[0].columns[1].estimator", "sklearn.preprocessing.OneHotEncoder"),
                     ("models.lr.pipeline[1].estimator", "sklearn.linear_model.LogisticRegression")]
    assert estimator_modules(estimator_definition(COLUMNWISE)) == [
        "sklearn.compose", "sklearn.linear_model", "sklearn.pipeline", "sklearn.preprocessing"]


def test_unset_random_states_inside_column_steps_are_derived():
    definition = [{"name": "prep", "columns": [{"name": "num", "select": "numeric",
                                                 "estimator": "sklearn.preprocessing.QuantileTransformer"}]},
                  {"name": "clf", "estimator": "sklearn.tree.DecisionTreeClassifier"}]
    est = build_estimator(definition, {}, {}, config_id="abcdef0123")
    params = est.get_params(deep=True)
    assert isinstance(params["prep__num__random_state"], int) and isinstance(params["clf__random_state"], int)
