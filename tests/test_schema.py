"""Schema errors: one line naming the key, the problem and the file, with a hint for a misspelt name."""

import copy

import pytest

from manymodels import ConfigError
from manymodels.experiment.schema import check_schema, describe_schema_error


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["cv"].update(n_fold=3), "exp.yaml: cv: unknown key 'n_fold'; valid: n_repeats, n_splits, "
                                             "random_state, shuffle, splitter, test_size"),
        (lambda c: c.update(modles={}), "exp.yaml: top level: unknown key 'modles'; did you mean 'models'?"),
        (lambda c: c["cv"].update(n_splits="five"), "exp.yaml: cv.n_splits: expected an integer, got 'five'"),
        (lambda c: c["models"]["gmm"].update(grid={"n_components": []}),
         "exp.yaml: models.gmm.grid.n_components: [] should be non-empty"),
        (lambda c: c["data"].update(features="bill_length_mm"),
         "exp.yaml: data.features: expected a list, got 'bill_length_mm'"),
        (lambda c: c["metrics"].update(accuracy="acuracy"),
         "exp.yaml: metrics.accuracy: 'acuracy' is not allowed; did you mean 'accuracy'?"),
        (lambda c: c["models"]["gmm"]["grid"].update(n_components={"from": 2, "to": 10, "stp": 1}),
         "exp.yaml: models.gmm.grid.n_components: unknown key 'stp'; did you mean 'step'?"),
        (lambda c: c["metrics"]["ars"].pop("greater_is_better"),
         "exp.yaml: metrics.ars: 'greater_is_better' is required here"),
        (lambda c: c["models"]["gmm"].update(gird=c["models"]["gmm"].pop("grid")),
         "exp.yaml: models.gmm: unknown key 'gird'; did you mean 'grid'?"),
        (lambda c: c.update(keep_models="bset"), "exp.yaml: keep_models: 'bset' is not allowed; did you mean 'best'?"),
        (lambda c: c.update(model_format="skop"), "exp.yaml: model_format: 'skop' is not allowed; did you mean 'skops'?"),
        (lambda c: c.update(model_format="pickle"),
         "exp.yaml: model_format: 'pickle' is not allowed; valid: joblib, skops"),
        (lambda c: c["models"]["gmm"].update(estimator="sklearn mixture"),
         "exp.yaml: models.gmm.estimator: 'sklearn mixture' is not a dotted path such as "
         "sklearn.mixture.GaussianMixture"),
        (lambda c: c["models"]["gmm"].update(pipeline=[{"name": "a", "estimator": "x.Y"}]),
         "exp.yaml: models.gmm: give exactly one of estimator, pipeline (found estimator, pipeline)"),
        (lambda c: c.update(name="my experiment"), "exp.yaml: name: 'my experiment' is not a name of letters"),
    ],
)
def test_schema_errors_are_one_line_naming_key_and_file(tiny_config, mutate, message):
    config = copy.deepcopy(tiny_config)
    mutate(config)
    text = describe_schema_error(config, config_file="exp.yaml")
    assert text.startswith(message) and "\n" not in text
    with pytest.raises(ConfigError, match="^exp.yaml: "):
        check_schema(config, config_file="exp.yaml")


def test_a_valid_config_passes(tiny_config):
    assert describe_schema_error(tiny_config, config_file="exp.yaml") is None
    check_schema(tiny_config, config_file="exp.yaml")
