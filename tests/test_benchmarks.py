"""The benchmarks judge only the goals that apply to the variant they run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_scale  # noqa: E402
import bench_search  # noqa: E402


def test_bench_scale_judges_the_large_grid_goals_on_the_large_grids_only():
    assert bench_scale.goals_for("default", fast_fits=False) == {"workflow/joblib": 1.2}
    large = bench_scale.goals_for("large-subset", fast_fits=False)
    assert large["one-config rerun / full run"] == 0.05 and large["workflow/joblib"] == 1.1
    fast = bench_scale.goals_for("large", fast_fits=True)
    assert "workflow/joblib" not in fast and fast["nothing-to-do rerun (s)"] == 10.0


def test_bench_search_judges_racing_only_where_its_burn_in_leaves_room_for_the_goal():
    assert bench_search.racing_floor(5) == 2 / 6 and not bench_search.goal_applies("racing", 5)
    assert bench_search.goal_applies("racing", 10) and bench_search.goal_applies("halving", 5)
