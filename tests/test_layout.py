import os

import pytest

from manymodels import ConfigError
from manymodels.experiment.layout import config_file_of, experiment_name, experiments


def test_the_name_comes_from_the_config_or_the_file():
    assert experiment_name({"name": "penguins"}, "config.yaml") == "penguins"
    assert experiment_name({}, "configs/tournament-classification.yaml") == "tournament-classification"
    with pytest.raises(ConfigError, match="my exp.yaml: the file name 'my exp.yaml' does not make a valid"):
        experiment_name({}, "my exp.yaml")


def test_the_config_file_is_named_as_the_user_gave_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_file_of([]) == "config.yaml"
    assert config_file_of([str(tmp_path / "configs" / "a.yaml")]) == os.path.join("configs", "a.yaml")
    assert config_file_of(["/elsewhere/b.yaml"]) == "/elsewhere/b.yaml"


def test_experiments_are_the_results_folders_a_run_finished(tmp_path):
    for name, marker in (("a", "scores.parquet"), ("b", "run.json"), ("c", None)):
        (tmp_path / name).mkdir()
        if marker:
            (tmp_path / name / marker).write_text("")
    assert [p.name for p in experiments(tmp_path)] == ["a", "b"]
    assert experiments(tmp_path / "missing") == []
