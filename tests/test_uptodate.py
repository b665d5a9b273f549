import os

import pytest

from manymodels.engine import uptodate
from manymodels.engine.uptodate import (environment_fingerprint, final_targets, fingerprint, forget, plain_invocation, record, record_path,
                                       unchanged_targets)

def fp(state):
    return fingerprint(state["config"], environment_fingerprint(state["snakefile"], state["data_file"]))


PLAIN = ["--cores", "2", "--configfile", "a.yaml", "b.yaml", "--config", "x=1", "y=2", "-q", "-p", "all"]


@pytest.mark.parametrize("argv", [[], ["--cores", "2"], ["-c2"], ["--cores=4", "-n"], PLAIN,
                                  ["--profile", "profiles/slurm", "--dry-run"], ["-j", "all"]])
def test_plain_invocations(argv):
    assert plain_invocation(argv)


@pytest.mark.parametrize("argv", [["results/scores.parquet"], ["--cores", "2", "results/report.html"],
                                  ["-R", "fit_model"], ["--forcerun", "score_model"], ["-F"], ["--forceall"],
                                  ["--touch"], ["--report", "r.html"], ["--summary"], ["--list-changes", "params"],
                                  ["--until", "aggregate_scores"], ["--delete-all-output"], ["-n", "--unlock"],
                                  ["--cores", "2", "--omit-from", "fit_model"], ["--rerun-triggers", "mtime"]])
def test_anything_else_is_not_plain(argv):
    assert not plain_invocation(argv)


@pytest.fixture
def finished_run(tmp_path, monkeypatch):
    """A working directory with a Snakefile, workflow code, a data file and recorded results."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MANYMODELS_NO_SHORTCUT", raising=False)
    (tmp_path / "workflow" / "manymodels").mkdir(parents=True)
    (tmp_path / "workflow" / "manymodels" / "fit.py").write_text("FIT = 1\n")
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text("rule all:\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "results" / "exp" / "scores" / "m").mkdir(parents=True)
    (tmp_path / "results" / "exp" / "scores" / "m" / "fold-0.parquet").write_bytes(b"x")
    (tmp_path / "results" / "exp" / "report.html").write_text("<html/>")
    state = {"config": {"models": {"m": {"grid": {"k": [1, 2]}}}}, "snakefile": snakefile, "data_file": "data.csv"}
    record("exp", fp(state), targets=["results/exp/report.html"])
    return tmp_path, state


def test_nothing_changed_gives_the_recorded_targets(finished_run):
    _, state = finished_run
    assert unchanged_targets("exp", fp(state), argv=["--cores", "2"]) == ["results/exp/report.html"]


def test_each_experiment_has_its_own_record(finished_run):
    root, state = finished_run
    assert unchanged_targets("other", fp(state), argv=[]) is None
    (root / "results" / "other").mkdir()
    (root / "results" / "other" / "x.parquet").write_bytes(b"x")  # another experiment's results changed
    assert unchanged_targets("exp", fp(state), argv=[]) == ["results/exp/report.html"]
    assert final_targets("exp")[0] == "results/exp/scores.parquet"


def bump_mtime(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("change", [
    "touch a result", "remove a result", "add a result", "edit the config", "edit the package",
    "edit the Snakefile", "touch the data", "a command with a target", "an incomplete job", "a lock", "opt out",
    "no record",
])
def test_any_change_leaves_the_decision_to_snakemake(finished_run, change, monkeypatch):
    root, state = finished_run
    argv = ["--cores", "2"]
    if change == "touch a result":
        bump_mtime(root / "results" / "exp" / "scores" / "m" / "fold-0.parquet")
    elif change == "remove a result":
        (root / "results" / "exp" / "scores" / "m" / "fold-0.parquet").unlink()
    elif change == "add a result":
        (root / "results" / "exp" / "scores" / "m" / "fold-1.parquet").write_bytes(b"y")
    elif change == "edit the config":
        state["config"]["models"]["m"]["grid"]["k"].append(3)
    elif change == "edit the package":
        (root / "workflow" / "manymodels" / "fit.py").write_text("FIT = 2\n")
    elif change == "edit the Snakefile":
        state["snakefile"].write_text("rule all:\n    input: []\n")
    elif change == "touch the data":
        bump_mtime(root / "data.csv")
    elif change == "a command with a target":
        argv.append("results/exp/scores.parquet")
    elif change == "an incomplete job":
        (root / ".snakemake" / "incomplete").mkdir(parents=True)
        (root / ".snakemake" / "incomplete" / "cmVzdWx0cw==").write_text("")
    elif change == "a lock":
        (root / ".snakemake" / "locks").mkdir(parents=True)
        (root / ".snakemake" / "locks" / "0.input.lock").write_text("results/x\n")
    elif change == "opt out":
        monkeypatch.setenv("MANYMODELS_NO_SHORTCUT", "1")
    elif change == "no record":
        forget("exp")
    assert unchanged_targets("exp", fp(state), argv=argv) is None


def test_installed_packages_are_part_of_the_fingerprint(finished_run, monkeypatch):
    _, state = finished_run
    before = fp(state)
    monkeypatch.setattr(uptodate.sys, "version", "3.99.0 (elsewhere)")
    assert fp(state) != before


def test_a_damaged_record_is_ignored(finished_run):
    _, state = finished_run
    record_path("exp").write_text("{not json")
    assert unchanged_targets("exp", fp(state), argv=[]) is None


SHARDS = {"a": [{"model": "m", "config_id": "a000000001", "kwargs": {"k": 1}}],
          "b": [{"model": "m", "config_id": "b000000001", "kwargs": {"k": 2}}]}


@pytest.fixture
def sharded_run(finished_run):
    """A recorded run whose results hold two shards' fits, scores and gathered files."""
    root, state = finished_run
    results = root / "results" / "exp"
    for name, tasks in SHARDS.items():
        for folder in ("fits", "scores"):
            (results / folder / "m" / tasks[0]["config_id"]).mkdir(parents=True)
            (results / folder / "m" / tasks[0]["config_id"] / "fold-0.parquet").write_bytes(b"x")
        (results / "shards").mkdir(exist_ok=True)
        (results / "shards" / f"scores-{name}.parquet").write_bytes(b"x")
    (results / "data").mkdir()
    (results / "data" / "data.parquet").write_bytes(b"x")
    environment = environment_fingerprint(state["snakefile"], state["data_file"])
    shards = uptodate.shard_fingerprints(environment, state["config"], SHARDS, ["0"])
    record("exp", fp(state), targets=[], shards=shards)
    return results, environment, state


def kept(environment, config, shards=SHARDS, folds=("0",)):
    fingerprints = uptodate.shard_fingerprints(environment, config, shards, list(folds))
    return uptodate.up_to_date_shards("exp", fingerprints, shards, argv=[])


def test_unchanged_shards_are_up_to_date(sharded_run):
    _, environment, state = sharded_run
    assert kept(environment, state["config"]) == {"a", "b"}
    # The choice, the plots and the name decide no fit or score.
    assert kept(environment, {**state["config"], "selection": {"metric": "other"}, "name": "x"}) == {"a", "b"}


def test_a_changed_task_or_touched_file_puts_only_its_shard_back(sharded_run):
    results, environment, state = sharded_run
    changed = {**SHARDS, "b": [{**SHARDS["b"][0], "kwargs": {"k": 3}}]}
    assert kept(environment, state["config"], shards=changed) == {"a"}
    bump_mtime(results / "scores" / "m" / "a000000001" / "fold-0.parquet")
    assert kept(environment, state["config"]) == {"b"}
    (results / "shards" / "scores-b.parquet").unlink()
    assert kept(environment, state["config"]) == set()


@pytest.mark.parametrize("change", ["environment", "shared setting", "folds", "prepared data", "not plain",
                                    "no shard record"])
def test_anything_shared_puts_every_shard_back(sharded_run, change):
    results, environment, state = sharded_run
    config, folds = state["config"], ("0",)
    if change == "environment":
        environment = "another"
    elif change == "shared setting":
        config = {**config, "metrics": {"ars": {}}}
    elif change == "folds":
        folds = ("0", "full")
    elif change == "prepared data":
        bump_mtime(results / "data" / "data.parquet")
    elif change == "no shard record":
        record("exp", fp(state), targets=[])
    if change == "not plain":
        fingerprints = uptodate.shard_fingerprints(environment, config, SHARDS, list(folds))
        assert uptodate.up_to_date_shards("exp", fingerprints, SHARDS, argv=["-R", "fit_model"]) == set()
    else:
        assert kept(environment, config, folds=folds) == set()


def test_shard_pattern_matches_exactly_the_named_shards():
    import re
    assert re.fullmatch(uptodate.shard_pattern({"a", "0f"}), "0f") and not re.fullmatch(uptodate.shard_pattern({"a"}), "b")
    assert not re.fullmatch(uptodate.shard_pattern(set()), "a")


def test_the_environment_covers_the_users_own_modules(finished_run, monkeypatch):
    root, state = finished_run
    (root / "own_metric.py").write_text("def score(y, p):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(root))
    config = {**state["config"], "metrics": {"s": {"function": "own_metric.score"}}}
    assert uptodate.named_objects(config) == ["own_metric.score"]
    before = environment_fingerprint(state["snakefile"], state["data_file"], config)
    (root / "own_metric.py").write_text("def score(y, p):\n    return 2.0\n")
    assert environment_fingerprint(state["snakefile"], state["data_file"], config) != before


def test_the_shards_to_plan_skip_nothing_without_a_record_nor_under_a_staged_search(tmp_path, monkeypatch):
    from test_plan import plan_of, tiny

    from manymodels.engine.uptodate import shards_to_plan

    monkeypatch.chdir(tmp_path)
    plan = plan_of(tiny(), per_shard=2)
    fingerprints, fresh, notes = shards_to_plan(plan, experiment="exp", environment="env", argv=[], comfortable=10)
    assert set(fingerprints) == set(plan.shards) and fresh == set()
    assert [level for level, _ in notes] == ["warning"]  # 32 fit and score jobs, more than 10
    assert shards_to_plan(plan, experiment="exp", environment="env", argv=[], comfortable=1000)[2] == []
    staged = plan_of(tiny(racing={"burn_in": 2}))
    assert shards_to_plan(staged, experiment="exp", environment="env", argv=[], comfortable=1000)[1] == set()


def test_a_scored_model_deleted_by_hand_is_missing_and_a_killed_write_names_none(tmp_path, monkeypatch):
    """A run killed while writing a score leaves its temporary file (``.fold-0.parquet.<random>.tmp``):
    it is not a score, so no model of that name is asked for (a rerun asked for one no rule makes)."""
    from manymodels.engine.uptodate import missing_kept_models

    monkeypatch.chdir(tmp_path)
    scores, fits = tmp_path / "results/exp/scores/gmm/0123456789", tmp_path / "results/exp/fits/gmm/0123456789"
    scores.mkdir(parents=True)
    fits.mkdir(parents=True)
    for fold in ("0", "1", "full"):
        (scores / f"fold-{fold}.parquet").write_bytes(b"")
    (scores / ".fold-2.parquet.k3x9q1ab.tmp").write_bytes(b"")
    (fits / "fold-0.joblib").write_bytes(b"")
    (fits / "fold-full.joblib").write_bytes(b"")
    assert missing_kept_models("exp", {("gmm", "0123456789")}) == ["results/exp/fits/gmm/0123456789/fold-1.joblib"]
    assert missing_kept_models("exp", {("gmm", "0123456789")}, suffix=".skops") == sorted(
        f"results/exp/fits/gmm/0123456789/fold-{fold}.skops" for fold in ("0", "1", "full"))
    assert missing_kept_models("exp", {("other", "0123456789")}) == []
