"""Stale-lock recovery: a live run is recognised by its registered process and start time."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from manymodels.engine.locks import (LOCKS, RUNS, is_alive, live_experiments, register_run, remove_stale_locks,
                                     write_run_marker)


def write_locks(root, index, *paths):
    (root / LOCKS).mkdir(parents=True, exist_ok=True)
    for kind in ("input", "output"):
        (root / LOCKS / f"{index}.{kind}.lock").write_text("".join(f"{p}\n" for p in paths))


def register(root, experiment, **entry):
    (root / RUNS).mkdir(parents=True, exist_ok=True)
    entry = {"experiment": experiment, "host": socket.gethostname(), "pid": 999_999_999, "start_time": 1.0, **entry}
    (root / RUNS / f"{entry['host']}-{entry['pid']}.json").write_text(json.dumps(entry))


@pytest.fixture
def live_run(tmp_path):
    """Another process that registered itself as a run of experiment 'alive' in ``tmp_path``."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.abspath('workflow')!r})
        from manymodels.engine.locks import register_run
        register_run("alive", {str(tmp_path)!r})
        print("registered", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, "snakemake"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "registered"
    yield proc
    proc.kill()
    proc.wait()


def test_locks_of_a_dead_run_are_removed_with_its_entry(tmp_path):
    write_locks(tmp_path, 0, "results/penguins/scores.parquet", "logs/penguins/fit/a.log")
    register(tmp_path, "penguins")  # pid 999999999 does not exist
    assert remove_stale_locks(tmp_path) == ["penguins"]
    assert not list((tmp_path / LOCKS).glob("*.lock")) and not list((tmp_path / RUNS).glob("*.json"))


def test_locks_are_kept_while_the_run_that_holds_them_lives(tmp_path, live_run):
    write_locks(tmp_path, 0, "results/alive/scores.parquet")
    assert live_experiments(tmp_path) == ({"alive"}, True)
    assert remove_stale_locks(tmp_path) == []
    assert (tmp_path / LOCKS / "0.output.lock").exists()
    live_run.kill()
    live_run.wait()
    assert remove_stale_locks(tmp_path) == ["alive"]


def test_a_live_run_of_another_experiment_protects_only_its_own_locks(tmp_path, live_run):
    write_locks(tmp_path, 0, "results/alive/scores.parquet")
    write_locks(tmp_path, 1, "results/killed/scores.parquet", "penguins.csv")
    assert remove_stale_locks(tmp_path) == ["killed"]
    assert sorted(p.name for p in (tmp_path / LOCKS).iterdir()) == ["0.input.lock", "0.output.lock"]


def test_locks_outside_any_experiment_wait_for_every_live_run(tmp_path, live_run):
    write_locks(tmp_path, 0, "elsewhere/file.txt")
    assert remove_stale_locks(tmp_path) == []
    live_run.kill()
    live_run.wait()
    assert remove_stale_locks(tmp_path) == ["?"]


def test_a_reused_pid_is_not_the_registered_run(tmp_path):
    """A process with the recorded pid but another start time is some other program."""
    register(tmp_path, "penguins", pid=os.getppid(), start_time=12.0)
    write_locks(tmp_path, 0, "results/penguins/x")
    assert is_alive(json.loads(next((tmp_path / RUNS).iterdir()).read_text())) is False
    assert remove_stale_locks(tmp_path) == ["penguins"]


def test_a_process_named_snakemake_is_not_mistaken_for_a_run(tmp_path):
    """The old check looked for 'snakemake' in command lines; an unrelated process must not block recovery."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "snakemake"], cwd=tmp_path)
    try:
        write_locks(tmp_path, 0, "results/penguins/x")
        assert remove_stale_locks(tmp_path) == ["penguins"]
    finally:
        other.kill()
        other.wait()


def test_runs_on_other_hosts_keep_their_locks(tmp_path):
    register(tmp_path, "penguins", host=socket.gethostname() + "-login2")
    write_locks(tmp_path, 0, "results/penguins/x")
    assert remove_stale_locks(tmp_path) == []


def test_this_process_registers_and_is_not_its_own_obstacle(tmp_path):
    path = register_run("penguins", tmp_path)
    entry = json.loads(path.read_text())
    assert entry["pid"] == os.getpid() and is_alive(entry) is True
    write_locks(tmp_path, 0, "results/penguins/x")
    assert remove_stale_locks(tmp_path) == ["penguins"]


def test_no_lock_files_nothing_to_do(tmp_path):
    (tmp_path / LOCKS).mkdir(parents=True)
    assert remove_stale_locks(tmp_path) == []


def test_the_run_marker_records_when_a_run_started(tmp_path):
    before = time.time()
    marker = write_run_marker("penguins", tmp_path)
    saved = json.loads((tmp_path / ".snakemake/manymodels/penguins/run.json").read_text())
    assert saved == marker and saved["pid"] == os.getpid()
    from datetime import datetime

    assert datetime.fromisoformat(saved["started"]).timestamp() >= before - 1
