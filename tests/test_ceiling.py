"""The DAG ceiling: estimates from the measured sizes, and the warning before a large DAG."""

import pytest

from manymodels.engine import ceiling


def test_measured_sizes_are_reproduced():
    for jobs, (seconds, gigabytes) in ceiling.MEASURED.items():
        assert ceiling.estimate(jobs) == pytest.approx((seconds, gigabytes))


def test_estimates_interpolate_between_and_extrapolate_beyond_the_measured_sizes():
    (small, (s_small, m_small)), (large, (s_large, m_large)) = sorted(ceiling.MEASURED.items())[-2:]
    middle = (small + large) // 2
    seconds, gigabytes = ceiling.estimate(middle)
    assert s_small < seconds < s_large and m_small < gigabytes < m_large
    beyond_s, beyond_m = ceiling.estimate(2 * large)
    assert beyond_s > s_large and beyond_m > m_large
    assert ceiling.estimate(10) >= (0.0, 0.0)


def test_no_warning_up_to_the_comfortable_size():
    assert ceiling.dag_warning(ceiling.COMFORTABLE_JOBS) is None


def test_a_larger_dag_is_announced_with_its_cost_and_what_to_do():
    text = ceiling.dag_warning(604_106)
    seconds, gigabytes = ceiling.estimate(604_106)
    assert text.startswith("This run plans about 604,106 jobs: building Snakemake's DAG of them takes about ")
    assert f"{seconds / 60:.0f} minutes and {gigabytes:.1f} GB" in text
    assert "random: with n_iter" in text and "split it into several experiments" in text
