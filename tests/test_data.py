import pandas as pd
import pytest

from manymodels import ConfigError, DataError
from manymodels.experiment.data import TEST, TRAIN, UNUSED, data_columns, fold_names, load_source, resolve_source, source_columns
from manymodels.task.io import read_json
from manymodels.task.prepare import assign_folds, prepare_data, split_holdout

FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def test_penguins_source_is_the_packaged_csv():
    path = resolve_source("penguins")
    assert path.name == "penguins.csv" and path.is_file()


def test_unknown_source_kind_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="data.source: 'iris' is not a known source"):
        resolve_source("iris")
    with pytest.raises(ConfigError, match="unknown scikit-learn dataset 'sklearn:digitz'"):
        load_source("sklearn:digitz")
    with pytest.raises(DataError, match="does not exist"):
        resolve_source(str(tmp_path / "nope.csv"))


def check(source, **data):
    data = {"source": str(source), **data}
    return data_columns(data, source_columns(data["source"]), config_file="exp.yaml")


def test_missing_column_names_column_key_and_files(tmp_path):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": [1.0], "g": [1], "y": [0]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"exp\.yaml: data\.features: column 'b' is not in data source '.*d\.csv'; valid: a, g, y$"):
        check(csv, features=["a", "b"], label="y")
    with pytest.raises(DataError, match=r"data\.label: column 'z'"):
        check(csv, features=["a"], label="z")
    with pytest.raises(DataError, match=r"data\.groups: column 'h'"):
        check(csv, features=["a"], groups="h")
    assert check(csv, features=["a"], label="y") == ["a"]
    assert check(csv, label="y", groups="g") == ["a"]  # features default: all but label and groups


def test_parquet_columns_are_read_from_the_schema(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1.0], "y": [0]}).to_parquet(path)
    assert check(path, features=["a"], label="y") == ["a"]
    with pytest.raises(DataError, match="column 'q'"):
        check(path, features=["q"])


def test_bundled_and_generated_sources():
    frame = load_source("sklearn:breast_cancer")
    assert frame.shape == (569, 31) and "target" in frame
    spec = {"generator": "make_regression", "kwargs": {"n_samples": 50, "n_features": 3}}
    generated = load_source(spec)
    assert list(generated.columns) == ["x0", "x1", "x2", "y"] and generated.equals(load_source(spec))
    with pytest.raises(ConfigError, match="make_regression rejects"):
        load_source({"generator": "make_regression", "kwargs": {"n_sample": 5}})


def test_prepare_drops_incomplete_rows_and_reports_how_many(tmp_path):
    log = prepare_data(source="penguins", features=FEATURES, label="species",
                       out_data=str(tmp_path / "d.parquet"), out_summary=str(tmp_path / "s.json"))
    summary = read_json(tmp_path / "s.json")
    assert summary["n_source_rows"] == 344 and summary["n_dropped_missing"] == 2 and summary["n_rows"] == 342
    assert "2 dropped for missing values" in log
    frame = pd.read_parquet(tmp_path / "d.parquet")
    assert list(frame.columns) == FEATURES + ["species"] and len(frame) == 342 and frame.notna().all().all()


def test_prepare_keeps_categorical_features(tmp_path):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": ["x", "y", None], "y": [0, 1, 1]}).to_csv(csv, index=False)
    prepare_data(source=str(csv), features=["a"], label="y", out_data=str(tmp_path / "o.parquet"),
                 out_summary=str(tmp_path / "s.json"))
    assert pd.read_parquet(tmp_path / "o.parquet")["a"].tolist() == ["x", "y"]


def test_folds_partition_rows_and_are_reproducible(tmp_path):
    data = tmp_path / "d.parquet"
    pd.DataFrame({"a": range(10), "y": [0, 1] * 5}).to_parquet(data)
    split_holdout(data=str(data), holdout=None, label="y", out=str(tmp_path / "h.parquet"))
    cv = {"splitter": "KFold", "n_splits": 3, "shuffle": True, "random_state": 0}
    assert fold_names(cv) == ["0", "1", "2"]
    for name in ("f1.parquet", "f2.parquet"):
        assign_folds(data=str(data), holdout=str(tmp_path / "h.parquet"), cv=cv, label="y", out_folds=str(tmp_path / name))
    folds = pd.read_parquet(tmp_path / "f1.parquet")
    assert folds.equals(pd.read_parquet(tmp_path / "f2.parquet"))
    assert ((folds == TEST).sum(axis=1) == 1).all()
    assert ((folds == TRAIN) | (folds == TEST)).all().all()


def test_held_out_rows_are_in_no_fold_and_stratified(tmp_path):
    data = tmp_path / "d.parquet"
    pd.DataFrame({"a": range(100), "y": [0] * 80 + [1] * 20}).to_parquet(data)
    split_holdout(data=str(data), holdout={"size": 0.25, "random_state": 1}, label="y", out=str(tmp_path / "h.parquet"))
    held = pd.read_parquet(tmp_path / "h.parquet")["holdout"]
    assert held.sum() == 25 and pd.read_parquet(data)["y"][held].sum() == 5  # class proportions kept
    cv = {"splitter": "StratifiedKFold", "n_splits": 5, "shuffle": True, "random_state": 0}
    assign_folds(data=str(data), holdout=str(tmp_path / "h.parquet"), cv=cv, label="y", out_folds=str(tmp_path / "f.parquet"))
    folds = pd.read_parquet(tmp_path / "f.parquet")
    assert (folds[held] == UNUSED).all().all() and ((folds[~held] == TEST).sum(axis=1) == 1).all()


@pytest.mark.parametrize("cv, n", [
    ({"splitter": "RepeatedStratifiedKFold", "n_splits": 3, "n_repeats": 2, "random_state": 0}, 6),
    ({"splitter": "ShuffleSplit", "n_splits": 4, "test_size": 0.3, "random_state": 0}, 4),
    ({"splitter": "TimeSeriesSplit", "n_splits": 3}, 3),
    ({"splitter": "GroupKFold", "n_splits": 2}, 2),
])
def test_other_splitters(tmp_path, cv, n):
    data = tmp_path / "d.parquet"
    pd.DataFrame({"a": range(40), "y": [0, 1] * 20, "g": [i // 10 for i in range(40)]}).to_parquet(data)
    split_holdout(data=str(data), holdout=None, label="y", out=str(tmp_path / "h.parquet"))
    assert fold_names(cv) == [str(i) for i in range(n)]
    assign_folds(data=str(data), holdout=str(tmp_path / "h.parquet"), cv=cv, label="y",
                 groups="g" if cv["splitter"] == "GroupKFold" else None,
                 out_folds=str(tmp_path / "f.parquet"))
    folds = pd.read_parquet(tmp_path / "f.parquet")
    assert list(folds.columns) == fold_names(cv) and ((folds == TEST).sum() > 0).all()
    if cv["splitter"] == "GroupKFold":  # a group is never on both sides
        frame = pd.read_parquet(data)
        for column in folds:
            assert not set(frame["g"][folds[column] == TEST]) & set(frame["g"][folds[column] == TRAIN])


def test_unknown_splitter_is_a_config_error():
    with pytest.raises(ConfigError, match="cv.splitter: 'Foo'"):
        fold_names({"splitter": "Foo", "n_splits": 3})
