"""The benchmarks judge only the goals that apply to the variant they run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_default  # noqa: E402
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


def test_a_config_is_handed_to_a_benchmark_run_with_its_relative_data_path_made_absolute(tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    (tmp_path / "work").mkdir()
    configs = {"file": {"source": "data.csv"}, "generator": {"source": {"generator": "make_classification"}},
               "named": {"source": "sklearn:iris"}}
    for name, data in configs.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"data": data}))
    handed = bench_default.config_for_workdir(tmp_path / "file.yaml", tmp_path / "work")
    assert yaml.safe_load(handed.read_text())["data"]["source"] == str(tmp_path / "data.csv")
    for name in ("generator", "named"):  # nothing to resolve: the config as it is
        assert bench_default.config_for_workdir(tmp_path / f"{name}.yaml", tmp_path / "work") == tmp_path / f"{name}.yaml"
