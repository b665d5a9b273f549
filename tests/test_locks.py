import json
import socket
import subprocess
import sys

import pytest

from manymodels.engine.locks import LOCKS, MARKER, other_snakemake_running, remove_stale_locks, write_run_marker


@pytest.fixture
def killed_run(tmp_path):
    """A directory as a SIGKILLed run leaves it: lock files and this host's run marker."""
    (tmp_path / LOCKS).mkdir(parents=True)
    (tmp_path / LOCKS / "0.input.lock").write_text("results/x\n")
    write_run_marker(tmp_path)
    return tmp_path


def test_locks_of_a_dead_run_are_removed(killed_run):
    assert remove_stale_locks(killed_run) is True
    assert not (killed_run / LOCKS).exists()


def test_locks_are_kept_while_another_snakemake_works_there(killed_run):
    # A process whose command line names snakemake, working in the directory.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "snakemake"], cwd=killed_run)
    try:
        assert other_snakemake_running(killed_run) is True
        assert remove_stale_locks(killed_run) is False
        assert (killed_run / LOCKS / "0.input.lock").exists()
    finally:
        live.kill()
        live.wait()
    assert other_snakemake_running(killed_run) is False


def test_locks_from_another_host_or_without_marker_are_kept(killed_run):
    (killed_run / MARKER).write_text(json.dumps({"pid": 1, "host": socket.gethostname() + "-other", "started": "x"}))
    assert remove_stale_locks(killed_run) is False
    (killed_run / MARKER).unlink()
    assert remove_stale_locks(killed_run) is False
    assert (killed_run / LOCKS / "0.input.lock").exists()


def test_an_empty_lock_directory_is_not_a_lock(tmp_path):
    (tmp_path / LOCKS).mkdir(parents=True)
    write_run_marker(tmp_path)
    assert remove_stale_locks(tmp_path) is False
