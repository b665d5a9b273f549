"""How large a DAG Snakemake builds comfortably here, and the warning before a larger one.

Building the DAG costs Snakemake time and memory in proportion to its jobs (it keeps every job, its
files and their dependencies in memory). ``MEASURED`` holds what ``benchmarks/bench_dag.py`` printed
on a 2-core machine (dry runs of the default experiment's mixtures, 12 jobs per configuration); the
estimate interpolates linearly between those points and extrapolates from the largest.
"""

from __future__ import annotations

import bisect

# jobs planned -> (seconds of the dry run, peak GB of the Snakemake process and its worker), as
# benchmarks/bench_dag.py printed them on 2026-12-01 (Snakemake 9.27.1, 2 cores).
MEASURED = {
    10_013: (16.0, 0.60),
    50_285: (62.4, 1.36),
    100_253: (139.7, 2.30),
    300_269: (467.8, 6.06),
}
# Above this many jobs (a dry run of about a minute and 1.4 GB here), the workflow says what
# building the DAG will cost before it starts.
COMFORTABLE_JOBS = 50_000


def estimate(n_jobs: int) -> tuple[float, float]:
    """(seconds, GB) a dry run of ``n_jobs`` jobs is expected to take here, from ``MEASURED``."""
    points = sorted(MEASURED.items())
    # The two measured sizes around n_jobs, or the two nearest when it is outside them.
    index = min(max(bisect.bisect([jobs for jobs, _ in points], n_jobs), 1), len(points) - 1)
    (x0, (s0, m0)), (x1, (s1, m1)) = points[index - 1], points[index]
    share = (n_jobs - x0) / (x1 - x0)
    return max(0.0, s0 + share * (s1 - s0)), max(0.0, m0 + share * (m1 - m0))


def dag_warning(n_jobs: int, *, comfortable: int = COMFORTABLE_JOBS) -> str | None:
    """What to tell a user before Snakemake builds a DAG of ``n_jobs`` jobs, or None if it is small."""
    if n_jobs <= comfortable:
        return None
    seconds, gigabytes = estimate(n_jobs)
    minutes = f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} s"
    return (f"This run plans about {n_jobs:,} jobs: building Snakemake's DAG of them takes about {minutes} and "
            f"{gigabytes:.1f} GB on a 2-core machine (measured up to {max(MEASURED):,} jobs; README, \"How large can "
            f"a grid be\"). To stay under {comfortable:,}: sample the grid (random: with n_iter), or split it into "
            "several experiments (one config file each).")
