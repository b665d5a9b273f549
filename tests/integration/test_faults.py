"""Faults: damaged artifacts are caught before they are read, reported once with what to do, and
repaired by `manymodels verify --repair` plus the same snakemake command; workers do not outlive
a killed run; bad data stops the run before any job."""

from __future__ import annotations

import copy
import os
import random
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from conftest import TINY_CONFIG
from workflow_helpers import SNAKEMAKE_TIMEOUT, comparable, copy_run, make_workflow, manymodels, snakemake

pytestmark = pytest.mark.integration

RESULTS = "results/config"
ARS_TRAIN = {"function": "sklearn.metrics.adjusted_rand_score", "on": "train", "greater_is_better": True}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A completed run of the tiny experiment (4 configurations x (3 folds + full))."""
    root = make_workflow(tmp_path_factory.mktemp("faults") / "wf", TINY_CONFIG)
    snakemake(root)
    return root


@pytest.fixture(scope="module")
def with_metric(tmp_path_factory):
    """The tables of an uninterrupted run of the tiny experiment with one metric more."""
    config = copy.deepcopy(TINY_CONFIG)
    config["metrics"]["ars_train"] = ARS_TRAIN
    root = make_workflow(tmp_path_factory.mktemp("reference") / "wf", config)
    snakemake(root)
    return comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet"))


SLOW_CONFIG = copy.deepcopy(TINY_CONFIG)  # 40 fits that take several seconds: time to interrupt them
SLOW_CONFIG["models"]["gmm"]["kwargs"]["n_init"] = 20
SLOW_CONFIG["models"]["gmm"]["grid"]["n_components"] = [2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory):
    """The scores of an uninterrupted run of SLOW_CONFIG."""
    root = make_workflow(tmp_path_factory.mktemp("slow") / "wf", SLOW_CONFIG)
    snakemake(root)
    return comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet"))


def add_metric(root):
    config = copy.deepcopy(TINY_CONFIG)
    config["metrics"]["ars_train"] = ARS_TRAIN
    from workflow_helpers import write_config

    write_config(root, config)


def fit_files(root, suffix):
    return sorted((root / f"{RESULTS}/fits/gmm").glob(f"*/fold-0{suffix}"))


def swap(a, b):
    tmp = a.with_name("swap.tmp")
    os.replace(a, tmp)
    os.replace(b, a)
    os.replace(tmp, b)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path):
    path.write_text("{this is not json")


@pytest.mark.parametrize("fault, target, reader", [
    ("swapped models", lambda root: fit_files(root, ".joblib")[:2], "does not match"),
    ("truncated model", lambda root: fit_files(root, ".joblib")[:1], "does not match"),
    ("garbage in a fit's metadata", lambda root: fit_files(root, ".json")[:1], "not valid JSON"),
    ("edited fit metadata", lambda root: fit_files(root, ".json")[:1], "does not match the checksum"),
])
def test_a_damaged_fit_fails_the_job_that_reads_it_and_is_repaired(finished, with_metric, tmp_path, fault, target,
                                                                      reader):
    root = copy_run(finished, tmp_path / "wf")
    files = target(root)
    if fault == "swapped models":
        swap(*files)
    elif fault == "truncated model":
        truncate(files[0])
    elif fault == "garbage in a fit's metadata":
        garbage(files[0])
    else:
        files[0].write_text(files[0].read_text().replace('"n_train": ', '"n_train": 1'))
    add_metric(root)  # rescoring reads every fit
    failed = snakemake(root, check=False)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1
    assert str(files[0].relative_to(root)) in out and reader in out and "manymodels verify --repair config" in out
    verified = manymodels(root, "verify", "config")
    assert verified.returncode == 1 and str(files[0].relative_to(root)) in verified.stdout
    assert manymodels(root, "verify", "config", "--repair").returncode == 0
    again = snakemake(root)
    assert "Nothing to be done" not in again.stdout + again.stderr
    assert comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet")).equals(with_metric)
    assert manymodels(root, "verify", "config").returncode == 0


def test_a_damaged_score_file_fails_gathering_and_is_repaired(finished, tmp_path):
    root = copy_run(finished, tmp_path / "wf")
    before = comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet"))
    scores = sorted((root / f"{RESULTS}/scores/gmm").glob("*/fold-1.parquet"))
    truncate(scores[0])
    swap(scores[1], scores[2])
    verified = manymodels(root, "verify", "config")
    assert verified.returncode == 1
    listed = verified.stdout.splitlines()
    assert len(listed) == 3 and all(str(p.relative_to(root)) in verified.stdout for p in scores[:3])
    assert manymodels(root, "verify", "config", "--repair").returncode == 0
    result = snakemake(root)
    assert "score_model" in result.stdout + result.stderr and "fit_model" not in result.stdout + result.stderr
    assert comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet")).equals(before)


def test_the_shortcut_does_not_vouch_for_swapped_files(finished, tmp_path):
    """Two models swapped, as in the fault report (each keeps its own size and modification time):
    the shortcut defers to Snakemake, whose jobs then check the models."""
    root = copy_run(finished, tmp_path / "wf")
    swap(*fit_files(root, ".joblib")[:2])
    out = snakemake(root, "--dry-run")
    assert "Nothing changed since the last successful run" not in out.stdout + out.stderr


def test_a_no_op_run_through_the_dag_arms_the_shortcut_again(finished, tmp_path):
    root = copy_run(finished, tmp_path / "wf")
    env = {**os.environ, "MANYMODELS_NO_SHORTCUT": "1"}
    (root / ".snakemake/manymodels/config/uptodate.json").unlink()
    assert "Nothing to be done" in snakemake(root, env=env).stderr
    assert "Nothing changed since the last successful run" in snakemake(root).stderr


def running(processes, within):
    """The processes still running (not exited, nor exited and waiting to be reaped) after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_workers_leave_within_two_seconds_of_a_killed_run(tmp_path):
    root = make_workflow(tmp_path / "wf", SLOW_CONFIG)
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + SNAKEMAKE_TIMEOUT
    while not list((root / f"{RESULTS}/fits").glob("*/*/*.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers
    proc.send_signal(signal.SIGKILL)  # the Snakemake process alone: its workers are orphaned
    proc.wait()
    killed = time.monotonic()
    alive = running(workers, within=2)
    assert not alive, f"still running {time.monotonic() - killed:.1f} s after the run died: {alive}"
    written = {p: p.stat().st_mtime_ns for p in (root / RESULTS).rglob("*") if p.is_file()}
    time.sleep(1)
    assert {p: p.stat().st_mtime_ns for p in (root / RESULTS).rglob("*") if p.is_file()} == written


def default_signal_handling():
    """In the child, before it starts: SIGINT and SIGTERM as a terminal gives them, whatever this test
    inherited (`make test &` starts with SIGINT ignored, and Python keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def slow_run(root, **popen):
    """Start the experiment in ``root`` in a session of its own; return once its first fit is written."""
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=default_signal_handling, **popen)
    deadline = time.monotonic() + SNAKEMAKE_TIMEOUT
    while not list((root / f"{RESULTS}/fits").glob("*/*/*.json")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.02)
    return proc


def error_lines(out):
    """The console lines of a failed run other than its progress and Snakemake's routine lines."""
    routine = ("Using workflow", "Building DAG", "Complete log", "Elapsed time", "Shutting down")
    return [line for line in out.splitlines()
            if line.strip() and not line.startswith(routine) and not re.match(r"^\d+ (of \d+ )?jobs", line)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_request_says_so_once_and_the_same_command_resumes(slow_reference, tmp_path, sig):
    """SIGTERM or SIGINT to the run's process group (kill, Ctrl-C, a batch system) at a random moment."""
    seed = random.randrange(10**6)
    root = make_workflow(tmp_path / "wf", SLOW_CONFIG)
    proc = slow_run(root)
    time.sleep(random.Random(seed).uniform(0, 2.0))
    os.killpg(proc.pid, sig)
    out, _ = proc.communicate(timeout=SNAKEMAKE_TIMEOUT)
    if proc.returncode == 0:
        pytest.skip(f"the run finished before the signal (seed {seed})")
    assert proc.returncode == 1 and error_lines(out) == ["Stopped on request; rerun the same command to resume."], \
        (seed, out)
    snakemake(root)
    assert comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet")).equals(slow_reference)


def test_a_second_run_at_once_is_refused_and_the_first_is_unharmed(slow_reference, tmp_path):
    root = make_workflow(tmp_path / "wf", SLOW_CONFIG)
    first = slow_run(root)
    # The first run is paused (as a loaded machine may pause it) while the second starts: on a busy
    # machine the second's start-up took longer than the whole first run, which then had nothing to refuse.
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        second = snakemake(root, check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    out, _ = first.communicate(timeout=SNAKEMAKE_TIMEOUT)
    assert first.returncode == 0, out
    assert second.returncode == 1 and error_lines(second.stdout + second.stderr) == [
        f"Another run is writing the same files in {root}: wait for it to finish, then rerun (a killed run's locks "
        "are removed by the next run, no --unlock needed)."], second.stderr
    assert comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet")).equals(slow_reference)


@pytest.fixture
def small_disk(tmp_path):
    """A 1.2 MB tmpfs: room for the workflow and its data, not for all its results."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small disk needs mounting a tmpfs, which this user may not do: {mounted.stderr.decode()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_says_so_in_one_line_and_the_same_command_resumes(finished, small_disk):
    root = make_workflow(small_disk / "wf", TINY_CONFIG)
    failed = snakemake(root, check=False)
    lines = error_lines(failed.stdout + failed.stderr)
    assert failed.returncode == 1 and len(lines) == 1, lines
    assert re.fullmatch(rf"Disk full: no space left on the device of {re.escape(str(root))}\S* \(\d+(\.\d)? \w+ free\); "
                        r"free some space, then rerun the same command to resume\.", lines[0]), lines
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    snakemake(root)
    assert comparable(pd.read_parquet(root / f"{RESULTS}/scores.parquet")).equals(
        comparable(pd.read_parquet(finished / f"{RESULTS}/scores.parquet")))


@pytest.mark.parametrize("write, message", [
    (lambda frame: frame.assign(body_mass_g=frame["body_mass_g"].astype(object).where(frame.index != 7, "heavy")),
     "models.gmm (GaussianMixture): feature column 'body_mass_g' of data source 'penguins.csv' holds text among its "
     "numbers (data row 8: 'heavy')"),
    (lambda frame: frame.iloc[:0], "data.source: data source 'penguins.csv' has no rows"),
    (lambda frame: frame.assign(species=None), "data.label: column 'species' of data source 'penguins.csv' is empty "
                                               "in every row"),
    (lambda frame: frame.assign(species="Adelie"), "data.label: column 'species' of data source 'penguins.csv' has "
                                                   "one value in every row ('Adelie'): no metric can compare "
                                                   "predictions with it"),
])
def test_bad_data_stops_the_run_before_any_job_naming_column_and_file(tmp_path, write, message):
    from manymodels.experiment.data import resolve_source

    config = copy.deepcopy(TINY_CONFIG)
    config["data"]["source"] = "penguins.csv"
    root = make_workflow(tmp_path / "wf", config)
    write(pd.read_csv(resolve_source("penguins"))).to_csv(root / "penguins.csv", index=False)
    result = snakemake(root, check=False)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("Using workflow")]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"config.yaml: {message}"), lines
    assert not (root / "results").exists()
