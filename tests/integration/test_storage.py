"""The results store on real runs: storage policies, and results moved to another place."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from manymodels.results.store import IntegrityError, Results
from workflow_helpers import make_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.integration


def bytes_under(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny experiment run under each keep_models policy."""
    from conftest import TINY_CONFIG

    roots = {}
    for policy in ("all", "none", "best"):
        config = {**TINY_CONFIG, "keep_models": policy}
        roots[policy] = make_workflow(tmp_path_factory.mktemp(policy) / "wf", config)
        snakemake(roots[policy])
    return roots


def test_keep_none_deletes_models_but_keeps_scores_cached(runs):
    root = runs["none"]
    assert not list((root / "results/config/fits").rglob("*.joblib"))
    assert len(list((root / "results/config/scores").rglob("*.parquet"))) == 16
    assert planned_jobs(root) == []
    store = Results(root / "results/config")
    assert (store.tasks["status"] == "ok").all()
    with pytest.raises(IntegrityError, match="missing"):
        store.load_model(store.tasks.iloc[0])


def test_keep_best_keeps_only_the_chosen_refit(runs):
    root = runs["best"]
    assert not list((root / "results/config/fits").rglob("*.joblib"))
    chosen = json.loads((root / "results/config/selection.json").read_text())["models"]["gmm"]["chosen"]
    kept = list((root / "results/config/models").rglob("*.joblib"))
    assert [p.parent.name for p in kept] == [chosen["config_id"]] and kept[0].name == "fold-full.joblib"
    store = Results(root / "results/config")
    row = store.query(f"config_id == '{chosen['config_id']}' and fold == 'full'").iloc[0]
    assert store.load_model(row).n_components == chosen["params"]["n_components"]
    assert planned_jobs(root) == []


def test_disk_usage_by_policy(runs, capsys):
    sizes = {policy: bytes_under(root / "results/config/fits") + bytes_under(root / "results/config/models")
             for policy, root in runs.items() if (root / "results").exists()}
    with capsys.disabled():
        print(f"\nmodel artifact bytes by keep_models policy (16 tasks): {sizes}")
    assert sizes["none"] < sizes["best"] < sizes["all"]
    report = (runs["all"] / "results/config/report.html").read_text()
    assert "Artifacts on disk" in report


def test_results_moved_elsewhere_still_answer_queries(runs, tmp_path):
    moved = tmp_path / "laptop" / "results"
    shutil.copytree(runs["all"] / "results/config", moved)
    out = subprocess.run(
        [sys.executable, "-m", "manymodels", "results", str(moved), "--where", "covariance_type == 'full' and fold != 'full'",
         "--sort", "-ars", "--columns", "config_id,n_components,fold,ars", "--format", "json"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout
    records = json.loads(out)
    assert len(records) == 6 and records[0]["ars"] >= records[-1]["ars"]
    store = Results(moved)
    row = store.query(f"config_id == '{records[0]['config_id']}' and fold == 'full'").iloc[0]
    assert store.load_model(row).covariance_type == "full"
