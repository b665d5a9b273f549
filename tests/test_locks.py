import json
import socket
import subprocess
import sys

from manymodels.locks import LOCKS, MARKER, remove_stale_locks, write_run_marker


def make_locks(root):
    (root / LOCKS).mkdir(parents=True)
    (root / LOCKS / "0.input.lock").write_text("results/x\n")


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_locks_of_a_dead_run_are_removed(tmp_path):
    make_locks(tmp_path)
    (tmp_path / MARKER).parent.mkdir(parents=True)
    (tmp_path / MARKER).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "started": "x"}))
    assert remove_stale_locks(tmp_path) is True
    assert not (tmp_path / LOCKS).exists()


def test_locks_of_a_live_run_are_kept(tmp_path):
    make_locks(tmp_path)
    write_run_marker(tmp_path)  # this very process: alive
    assert remove_stale_locks(tmp_path) is False
    assert (tmp_path / LOCKS / "0.input.lock").exists()


def test_locks_from_another_host_or_without_marker_are_kept(tmp_path):
    make_locks(tmp_path)
    assert remove_stale_locks(tmp_path) is False
    (tmp_path / MARKER).parent.mkdir(parents=True)
    (tmp_path / MARKER).write_text(json.dumps({"pid": dead_pid(), "host": "elsewhere", "started": "x"}))
    assert remove_stale_locks(tmp_path) is False
    assert (tmp_path / LOCKS).exists()
