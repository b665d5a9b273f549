import subprocess
import sys

from manymodels.experiment.tasks import config_id, derive_seed, expand_tasks


def test_config_id_ignores_key_order_and_is_short_hex():
    a = config_id("sklearn.mixture.GaussianMixture", {"n_init": 5, "random_state": 27}, {"n_components": 2, "covariance_type": "full"})
    b = config_id("sklearn.mixture.GaussianMixture", {"random_state": 27, "n_init": 5}, {"covariance_type": "full", "n_components": 2})
    assert a == b
    assert len(a) == 10 and int(a, 16) >= 0


def test_config_id_changes_with_any_part_of_the_definition():
    base = config_id("m.E", {"k": 1}, {"p": 2})
    assert base != config_id("m.F", {"k": 1}, {"p": 2})
    assert base != config_id("m.E", {"k": 2}, {"p": 2})
    assert base != config_id("m.E", {"k": 1}, {"p": 3})
    assert base != config_id("m.E", {"k": 1}, {"p": 2.0})


def test_config_id_is_the_same_in_another_process():
    code = "from manymodels.experiment.tasks import config_id; print(config_id('m.E', {'b': 1, 'a': [1, 2]}, {'p': 'x'}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert other == config_id("m.E", {"a": [1, 2], "b": 1}, {"p": "x"})


def test_derived_seed_depends_only_on_identity():
    assert derive_seed("abc") == derive_seed("abc")
    assert derive_seed("abc") != derive_seed("abd")
    assert 0 <= derive_seed("abc") < 2**31


def test_expand_tasks_deduplicates_overlapping_sub_grids():
    models = {"m": {"estimator": "x.Y", "kwargs": {}}}
    tasks = expand_tasks(models, {"m": [{"a": 1}, {"a": 2}, {"a": 1}]})
    assert [t["params"] for t in tasks] == [{"a": 1}, {"a": 2}]
    assert tasks[0]["config_id"] == config_id("x.Y", {}, {"a": 1})
