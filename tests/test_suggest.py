import pytest

from manymodels.experiment.suggest import did_you_mean, with_hint


@pytest.mark.parametrize("word, candidates, hint", [
    ("acuracy", ["accuracy", "balanced_accuracy", "roc_auc"], "did you mean 'accuracy'?"),
    ("bill_lenght_mm", ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"], "did you mean 'bill_length_mm'?"),
    ("GaussianMixtur", ["GaussianMixture", "BayesianGaussianMixture"], "did you mean 'GaussianMixture'?"),
    ("KFOLD", ["KFold", "GroupKFold"], "did you mean 'KFold'?"),
    ("n_fold", ["n_splits", "shuffle", "random_state"], "valid: n_splits, random_state, shuffle"),
    ("zzz", [f"name{i}" for i in range(20)], ""),
])
def test_hints(word, candidates, hint):
    assert did_you_mean(word, candidates) == hint


def test_a_message_without_a_useful_hint_is_left_alone():
    assert with_hint("x: unknown 'zzz'", "zzz", [f"name{i}" for i in range(20)]) == "x: unknown 'zzz'"
    assert with_hint("x: unknown 'acc'", "acc", ["accuracy"]) == "x: unknown 'acc'; did you mean 'accuracy'?"
