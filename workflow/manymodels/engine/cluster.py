"""Keep a Slurm group job in one warm Snakemake process on its node.

profiles/slurm groups each (fit, score) pair and bundles many pairs into one Slurm submission
(`group:` + `--group-components`). With Snakemake 9.27 and snakemake-executor-plugin-slurm 2.8
(jobstep 0.6), the node then does not run the bundle as one process:

1. the Snakemake process that sbatch starts is not told the group components, so it splits the
   bundle into its (fit, score) pairs again and runs them one after the other (`--jobs 1`), each
   through `srun` as a new Snakemake process (upstream: snakemake-executor-plugin-slurm#469);
2. that process gets no `--force-use-threads` (Snakemake passes it to single jobs only), so each
   `run:` job starts yet another Snakemake process, which parses the Snakefile and imports
   scikit-learn again: about 4 s per task here, for fits that take 0.02-0.3 s.

Two settings fix that, each in the one process where it matters; both are plain attribute
changes and raise nothing when a later Snakemake or plugin version moved them (the Slurm tests
then show the lost speed, not a failure).
"""

from __future__ import annotations


def pass_group_settings_to_slurm_jobs() -> bool:
    """Make the slurm plugin pass --groups/--group-components to the jobs it submits (fix 1).

    Called in the main process. The job on the node then forms the same group as the main
    process did and runs it in one `srun` step, one Snakemake process. Returns whether the plugin
    was found.
    """
    try:
        import snakemake_executor_plugin_slurm as slurm
    except ImportError:  # not installed: no Slurm runs
        return False
    settings = getattr(slurm, "common_settings", None)
    if settings is None or not hasattr(settings, "pass_group_args"):
        return False
    settings.pass_group_args = True
    return True


def run_jobs_in_threads() -> bool:
    """Run `run:` jobs as threads in this Snakemake process, as --force-use-threads does (fix 2).

    Called in a remote (node-side) process only, before Snakemake creates its local executor:
    a group job's tasks then run one after another in this process, which has imported
    everything once. Single cluster jobs already get --force-use-threads; this changes only
    group jobs. Returns whether the local executor was found.
    """
    try:
        from snakemake.executors import local
    except ImportError:
        return False
    executor = getattr(local, "Executor", None)
    post_init = getattr(executor, "__post_init__", None)
    if post_init is None:
        return False
    if getattr(post_init, "_manymodels_threads", False):
        return True

    def __post_init__(self, *args, **kwargs):
        post_init(self, *args, **kwargs)
        self.use_threads = True

    __post_init__._manymodels_threads = True
    executor.__post_init__ = __post_init__
    return True


def adapt_cluster_execution(workflow) -> None:
    """Apply fix 1 in the main process and fix 2 in node-side processes (called by common.smk)."""
    if workflow.is_main_process:
        pass_group_settings_to_slurm_jobs()
    elif workflow.remote_exec:
        run_jobs_in_threads()
