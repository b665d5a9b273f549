import json

import pytest

from manymodels import ConfigError
from manymodels.experiment.grid import expand_grid, expand_values


def test_list_and_inclusive_integer_range():
    assert expand_values([1, "a"], key="k") == [1, "a"]
    assert expand_values({"from": 2, "to": 5}, key="k") == [2, 3, 4, 5]
    assert expand_values({"from": 2, "to": 10, "step": 4}, key="k") == [2, 6, 10]


def test_float_ranges_are_rounded_and_inclusive():
    assert expand_values({"from": 0.1, "to": 0.5, "step": 0.1}, key="k") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert expand_values({"from": 0.0, "to": 1.0, "num": 3}, key="k") == [0.0, 0.5, 1.0]
    assert expand_values({"from": 0.001, "to": 10, "num": 5, "scale": "log"}, key="k") == [0.001, 0.01, 0.1, 1.0, 10.0]


def test_empty_range_names_the_key():
    with pytest.raises(ConfigError, match=r"models\.gmm\.grid\.n_components.*empty grid"):
        expand_values({"from": 5, "to": 2}, key="models.gmm.grid.n_components")


def test_log_range_needs_positive_bounds():
    with pytest.raises(ConfigError, match="positive"):
        expand_values({"from": 0, "to": 1, "num": 3, "scale": "log"}, key="k")


def test_grid_is_cartesian_product_in_sorted_order_with_keys_in_config_order():
    points = expand_grid({"b": [1, 2], "a": ["x", "y"]}, key="g")
    assert points == [{"a": "x", "b": 1}, {"a": "x", "b": 2}, {"a": "y", "b": 1}, {"a": "y", "b": 2}]
    assert [list(p) for p in points] == [["b", "a"]] * 4


def test_sub_grids_follow_parameter_grid_semantics():
    from sklearn.model_selection import ParameterGrid

    grid = [{"kernel": ["linear"], "C": [1, 10]}, {"kernel": ["rbf"], "gamma": [0.1, 1.0], "C": [1]}]
    assert expand_grid(grid, key="g") == list(ParameterGrid(grid))


def test_empty_sub_grid_is_an_error():
    with pytest.raises(ConfigError, match=r"g\[1\]: empty grid"):
        expand_grid([{"a": [1]}, {}], key="g")


def test_random_draws_keep_their_prefix_when_n_iter_grows():
    from manymodels.experiment.grid import sample_points

    spec = {"random_state": 3, "distributions": {"C": {"loguniform": [0.001, 10]}, "k": {"randint": [1, 4]},
                                                 "u": {"uniform": [0, 1]}, "kind": {"choice": ["a", "b", None]}}}
    first = sample_points({**spec, "n_iter": 20}, key="k")
    more = sample_points({**spec, "n_iter": 40}, key="k")
    assert more[:20] == first and len(more) == 40
    assert all(0.001 <= p["C"] <= 10 and p["k"] in (1, 2, 3) and 0 <= p["u"] <= 1 for p in more)
    assert {p["kind"] for p in more} == {"a", "b", None}
    assert sample_points({**spec, "n_iter": 5, "random_state": 4}, key="k") != first[:5]


def test_bad_distribution_bounds_name_the_key():
    from manymodels.experiment.grid import sample_points

    with pytest.raises(ConfigError, match=r"k\.distributions\.C: loguniform needs low < high and low > 0"):
        sample_points({"n_iter": 1, "distributions": {"C": {"loguniform": [0, 1]}}}, key="k")


def test_randint_excludes_its_upper_bound_as_scipy_and_randomized_search_cv():
    from scipy.stats import randint
    from sklearn.model_selection import ParameterSampler

    from manymodels.experiment.grid import sample_points

    ours = {p["k"] for p in sample_points({"n_iter": 200, "distributions": {"k": {"randint": [1, 5]},
                                                                            "u": {"uniform": [0, 1]}}}, key="k")}
    theirs = {p["k"] for p in ParameterSampler({"k": randint(1, 5)}, n_iter=200, random_state=0)}
    assert ours == theirs == {1, 2, 3, 4}


def test_n_iter_draws_are_distinct_and_a_small_space_is_used_whole_and_said():
    from manymodels.experiment.grid import sample_points, sampling_note

    spec = {"random_state": 0, "distributions": {"depth": {"choice": [3, 6, None]}, "leaf": {"randint": [1, 5]}}}
    six = sample_points({**spec, "n_iter": 6}, key="k")
    assert len({json.dumps(p, sort_keys=True) for p in six}) == 6  # 12 points, 6 distinct drawn
    assert sample_points({**spec, "n_iter": 9}, key="k")[:6] == six  # still a prefix
    whole = sample_points({**spec, "n_iter": 40}, key="k")
    assert len(whole) == 12 and len({json.dumps(p, sort_keys=True) for p in whole}) == 12
    assert sampling_note({**spec, "n_iter": 40}, key="models.forest.random") == (
        "models.forest.random: n_iter is 40 but the space has only 12 distinct configurations; each of them is "
        "used once (12 configurations)")
    assert sampling_note({**spec, "n_iter": 12}, key="k") is None
    continuous = {"distributions": {"C": {"loguniform": [0.01, 1]}}, "n_iter": 50}
    assert len({p["C"] for p in sample_points(continuous, key="k")}) == 50 and sampling_note(continuous, key="k") is None
