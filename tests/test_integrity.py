"""Artifacts are checked against what was written before they are read."""

import json
import os

import pandas as pd
import pytest

from manymodels.task.io import (IntegrityError, damaged, load_checked_model, read_checked_json, read_checked_table,
                                task_identity, write_checked_json, write_joblib, write_parquet)

FIT = "results/exp/fits/gmm/0123456789/fold-2.json"


@pytest.fixture
def meta(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs(os.path.dirname(FIT))
    write_checked_json({"model": "gmm", "config_id": "0123456789", "fold": "2", "n_train": 10}, FIT)
    return FIT


def test_a_checked_document_reads_back_without_its_checksum(meta):
    assert read_checked_json(meta, **task_identity(meta)) == {"model": "gmm", "config_id": "0123456789", "fold": "2",
                                                              "n_train": 10}


@pytest.mark.parametrize("damage, why", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: text.replace('"n_train": 10', '"n_train": 11'), "does not match the checksum recorded"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "sha256"}), "no recorded checksum"),
])
def test_a_damaged_document_is_refused_naming_the_file_and_the_repair(meta, damage, why):
    with open(meta) as fh:
        text = fh.read()
    with open(meta, "w") as fh:
        fh.write(damage(text))
    with pytest.raises(IntegrityError) as caught:
        read_checked_json(meta, **task_identity(meta))
    message = str(caught.value)
    assert message.startswith(f"{meta}: ") and why in message
    assert "run `manymodels verify --repair exp`" in message


def test_another_tasks_document_is_refused(meta):
    other = meta.replace("fold-2", "fold-3")
    os.replace(meta, other)
    with pytest.raises(IntegrityError, match=r"it belongs to another task \(fold 2 instead of fold 3\)"):
        read_checked_json(other, **task_identity(other))


def test_a_model_is_loaded_only_with_the_checksum_its_fit_recorded(tmp_path):
    recorded = write_joblib({"a": 1}, tmp_path / "m.joblib")
    assert load_checked_model(tmp_path / "m.joblib", expected=recorded["model_sha256"]) == {"a": 1}
    write_joblib({"a": 2}, tmp_path / "m.joblib")
    with pytest.raises(IntegrityError, match="does not match"):
        load_checked_model(tmp_path / "m.joblib", expected=recorded["model_sha256"])


def test_a_truncated_parquet_file_is_named(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pd.DataFrame({"x": range(1000)}), path)
    assert read_checked_table(path).num_rows == 1000
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(IntegrityError, match=r"t\.parquet: not a readable Parquet file"):
        read_checked_table(path)


def test_damaged_names_the_experiment_to_repair():
    assert "`manymodels verify --repair penguins`" in damaged("results/penguins/scores/a/b/fold-0.parquet", "x")
    assert "`manymodels verify --repair`" in damaged("elsewhere.parquet", "x")


def test_what_a_bad_file_takes_with_it(tmp_path):
    from manymodels.results.verify import derived

    root = tmp_path / "results/exp"
    files = ["fits/gmm/ab00000000/fold-0.json", "fits/gmm/ab00000000/fold-0.joblib",
             "scores/gmm/ab00000000/fold-0.parquet", "scores/gmm/ab00000000/fold-1.parquet",
             "shards/scores-a.parquet", "shards/scores-b.parquet", "shards/scores-trials-gmm.parquet",
             "shards/scores-trials-svm.parquet", "scores.parquet", "plots/cv_scores.png"]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    taken = {str(p.relative_to(root)) for p in derived(root, root / "fits/gmm/ab00000000/fold-0.joblib")}
    assert taken == {"fits/gmm/ab00000000/fold-0.json", "fits/gmm/ab00000000/fold-0.joblib",
                     "scores/gmm/ab00000000/fold-0.parquet", "shards/scores-a.parquet",
                     "shards/scores-trials-gmm.parquet",  # its family's trials (Bayesian optimisation), if any
                     "scores.parquet", "plots"}


def test_a_bad_prefix_file_takes_its_prefix_and_the_fits_on_it(tmp_path):
    from manymodels.results.verify import derived

    root = tmp_path / "results/exp"
    prefix = "prefixes/lr/pp00000000/fold-1"
    files = {f"{prefix}{ext}": b"x" for ext in (".joblib", ".train.parquet", ".test.parquet")}
    files[f"{prefix}.json"] = b"{}"
    files |= {"prefixes/lr/pp00000000/fold-0.joblib": b"x", "prefixes/lr/qq00000000/fold-1.joblib": b"x"}
    for config_id, prefix_id in (("ab00000000", "pp00000000"), ("cd00000000", "qq00000000")):
        files[f"fits/lr/{config_id}/fold-1.json"] = json.dumps({"prefix_id": prefix_id}).encode()
        files[f"fits/lr/{config_id}/fold-1.joblib"] = b"x"
        files[f"scores/lr/{config_id}/fold-1.parquet"] = b"x"
    files |= {"fits/lr/ab00000000/fold-0.json": json.dumps({"prefix_id": "pp00000000"}).encode(),
              "shards/scores-a.parquet": b"x", "shards/scores-c.parquet": b"x", "scores.parquet": b"x"}
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    taken = {str(p.relative_to(root)) for p in derived(root, root / f"{prefix}.test.parquet")}
    assert taken == {f"{prefix}{ext}" for ext in (".json", ".joblib", ".train.parquet", ".test.parquet")} | {
        "fits/lr/ab00000000/fold-1.json", "fits/lr/ab00000000/fold-1.joblib", "scores/lr/ab00000000/fold-1.parquet",
        "shards/scores-a.parquet", "scores.parquet"}  # not the other prefix, fold or configuration


def test_a_missing_kept_model_is_listed_and_its_repair_arms_the_fit_again(tmp_path):
    """keep_models: all: every model its fit recorded must be there; with none, models are temporary."""
    import json as _json

    from test_store import build_results

    from manymodels.results.verify import repair, verify

    results = build_results(tmp_path, [{"n_components": 2}])
    assert verify(results) == []
    model = next((results / "fits/gmm").glob("*/fold-0.joblib"))
    model.unlink()
    (results / "run.json").write_text(_json.dumps({"keep_models": "all"}))
    (problem,) = verify(results)
    assert problem.path == model and problem.why.startswith("missing")
    removed = {p.name for p in repair(results, [problem])}
    assert {"fold-0.json", "fold-0.parquet", "scores.parquet"} <= removed  # its record and score: fitted again
    (results / "run.json").write_text(_json.dumps({"keep_models": "none"}))
    for path in (results / "fits/gmm").glob("*/*.joblib"):
        path.unlink()
    assert verify(results) == []
