import pandas as pd
import pytest

from manymodels import ConfigError, DataError
from manymodels.data import TEST, TRAIN, assign_folds, check_columns, fold_names, prepare_data, resolve_source
from manymodels.io import read_json

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def test_penguins_source_is_the_packaged_csv():
    path = resolve_source("penguins")
    assert path.name == "penguins.csv" and path.is_file()


def test_unknown_source_kind_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="data.source: 'iris'"):
        resolve_source("iris")
    with pytest.raises(DataError, match="does not exist"):
        resolve_source(str(tmp_path / "nope.csv"))


def test_missing_column_names_column_key_and_files(tmp_path):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": [1.0], "y": [0]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"exp\.yaml: data\.features: column 'b' is not in data file '.*d\.csv' \(columns: a, y\)"):
        check_columns(csv, features=["a", "b"], label="y", config_file="exp.yaml")
    with pytest.raises(DataError, match=r"data\.label: column 'z'"):
        check_columns(csv, features=["a"], label="z", config_file="exp.yaml")
    check_columns(csv, features=["a"], label="y", config_file="exp.yaml")


def test_parquet_columns_are_read_from_the_schema(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1.0], "y": [0]}).to_parquet(path)
    check_columns(path, features=["a"], label="y", config_file="exp.yaml")
    with pytest.raises(DataError, match="column 'q'"):
        check_columns(path, features=["q"], label=None, config_file="exp.yaml")


def test_prepare_drops_incomplete_rows_and_reports_how_many(tmp_path):
    log = prepare_data(source=resolve_source("penguins"), features=FEATURES, label="species",
                       out_data=str(tmp_path / "d.parquet"), out_summary=str(tmp_path / "s.json"))
    summary = read_json(tmp_path / "s.json")
    assert summary["n_source_rows"] == 344 and summary["n_dropped_missing"] == 2 and summary["n_rows"] == 342
    assert "2 dropped for missing values" in log
    frame = pd.read_parquet(tmp_path / "d.parquet")
    assert list(frame.columns) == FEATURES + ["species"] and len(frame) == 342 and frame.notna().all().all()


def test_prepare_rejects_non_numeric_features(tmp_path):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": ["x", "y"], "y": [0, 1]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match="feature column 'a' is not numeric"):
        prepare_data(source=csv, features=["a"], label="y", out_data=str(tmp_path / "o.parquet"),
                     out_summary=str(tmp_path / "s.json"))


def test_folds_partition_rows_and_are_reproducible(tmp_path):
    data = tmp_path / "d.parquet"
    pd.DataFrame({"a": range(10), "y": [0, 1] * 5}).to_parquet(data)
    cv = {"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 0}
    assert fold_names(cv) == ["0", "1", "2"]
    for name in ("f1.parquet", "f2.parquet"):
        assign_folds(data=str(data), cv=cv, label="y", out_folds=str(tmp_path / name))
    folds = pd.read_parquet(tmp_path / "f1.parquet")
    assert folds.equals(pd.read_parquet(tmp_path / "f2.parquet"))
    assert ((folds == TEST).sum(axis=1) == 1).all()
    assert ((folds == TRAIN) | (folds == TEST)).all().all()


def test_unknown_splitter_is_a_config_error():
    with pytest.raises(ConfigError, match="cv.splitter: 'Foo'"):
        fold_names({"splitter": "Foo", "n_splits": 3})
