"""What makes Snakemake run tasks well: the plan (every file list and parameter the rules ask for),
the warm worker pool, scheduling settings, cluster adaptation, stale-lock recovery, the
nothing-to-do shortcut, code provenance and the console.
Each workaround of Snakemake's internals lives in one module that names the upstream issue and
checks the version it was written for."""
