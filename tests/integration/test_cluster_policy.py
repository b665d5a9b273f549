"""The Slurm profile's groups form valid group jobs for every kind of experiment.

Snakemake refuses a group that a job outside it depends on and that depends on that job in turn
(`Error in group ...`), and it forms the groups when it builds the DAG, so a quiet dry run with
``--profile profiles/slurm`` finds such a grouping without a cluster. One shipped config for each
shape of DAG after the fits: nested CV with a held-out set, a refit after a selection checkpoint and
the plot of its test predictions; fold racing's stages, their checkpoint and the plot of the race.
"""

from __future__ import annotations

import shutil

import pytest

from workflow_helpers import REPO, make_workflow, snakemake

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("config", ["tournament-classification", "penguins-racing"])
def test_the_slurm_profiles_groups_fit_each_kind_of_experiment(tmp_path, config):
    root = make_workflow(tmp_path / "wf", {})
    shutil.copytree(REPO / "configs", root / "configs")
    run = snakemake(root, "--profile", "profiles/slurm", "--configfile", f"configs/{config}.yaml", "--dry-run",
                    "--quiet", check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
