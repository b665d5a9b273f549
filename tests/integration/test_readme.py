"""The README is executable: every command of its `sh` and `python` blocks runs as written, in
README order, in one shell in a fresh copy of the repository, and the test fails when one fails.

A few commands cannot run as written here; each is adapted in one stated way (ADAPTED): the test
command itself is not run again from inside the tests, the large grid and the Slurm command run as
dry runs (`-n`), and a long benchmark runs with its quickest documented options.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import REPO

pytestmark = pytest.mark.integration

BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```$", re.M | re.S)
# (pattern, how it runs here: a command with {command} for the original, or None to skip; why)
ADAPTED = [
    (r"^make test\b", None, "it runs the test suite this test belongs to"),
    (r"configs/penguins-large\.yaml", "{command} -n", "the large grid takes about 16 minutes: dry run"),
    (r"--profile slurm\b", "{command} -n", "no Slurm cluster is needed for a dry run"),
    (r"^make bench-scale$", "make -n bench-scale", "about 6 minutes: make prints the command instead"),
    (r"bench_streaming\.py --sizes 100000 1000000 10000000$", "python benchmarks/bench_streaming.py --sizes 100000",
     "1e7 rows take minutes: the quickest documented sizes"),
    (r"bench_search\.py --stride 8\b", "python benchmarks/bench_search.py --stride 40 --cores 2",
     "three runs of 200 configurations take minutes: the documented quick check"),
]
TIMEOUT = 1800


def readme_commands(text: str) -> list[tuple[str, str]]:
    """("sh", command) for each command line of the sh blocks, ("python", code) for each python block."""
    commands = []
    for kind, body in BLOCK.findall(text):
        if kind == "python":
            commands.append(("python", body))
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(("sh", line.strip()))
    return commands


def adapted(command: str) -> tuple[str | None, str | None]:
    """How ``command`` runs in this test, and why it is adapted (None when it runs as written)."""
    for pattern, replacement, reason in ADAPTED:
        if re.search(pattern, command):
            return (None if replacement is None else replacement.format(command=_strip_comment(command))), reason
    return command, None


def _strip_comment(command: str) -> str:
    """The command without a trailing `  # comment` (so that options added land before it)."""
    return re.sub(r"\s+#\s.*$", "", command)


def test_adaptations_are_few_and_named():
    commands = [c for kind, c in readme_commands((REPO / "README.md").read_text()) if kind == "sh"]
    changed = {c: adapted(c) for c in commands if adapted(c)[1]}
    assert 0 < len(changed) <= 6, changed
    assert adapted("snakemake --cores 2 --configfile configs/penguins-large.yaml  # big")[0] == \
        "snakemake --cores 2 --configfile configs/penguins-large.yaml -n"


def fresh_copy(target: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, not ignored), mtimes kept,
    with this checkout's environment (.venv, made by `make`) linked in."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(REPO / ".venv")
    return target


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    if not (REPO / ".venv" / ".installed").is_file():
        pytest.skip("the README's commands use the environment `make` creates in .venv: run the tests with `make test`")
    root = fresh_copy(tmp_path_factory.mktemp("readme") / "clone")
    lines = ["set -u", f"cd {shlex.quote(str(root))}"]
    plan = []
    for i, (kind, command) in enumerate(readme_commands((REPO / "README.md").read_text())):
        if kind == "python":
            (root / f".readme-block-{i}.py").write_text(command)
            run, why = f"python .readme-block-{i}.py", None
        else:
            run, why = adapted(command)
        plan.append((i, command, run, why))
        if run is None:
            continue
        lines += [f"echo {shlex.quote(f'=== [{i}] {run}')}", run, "rc=$?",
                  f'echo "{i} $rc" >> .readme-status', '[ "$rc" -eq 0 ] || exit "$rc"']
    (root / ".readme.sh").write_text("\n".join(lines) + "\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MANYMODELS_", "VIRTUAL_ENV"))}
    env.update(XDG_CONFIG_HOME=str(root.parent / "config-home"), PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    result = subprocess.run(["bash", ".readme.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    (root / ".readme-output").write_text(result.stdout + result.stderr)
    status = dict(line.split() for line in (root / ".readme-status").read_text().splitlines()) \
        if (root / ".readme-status").exists() else {}
    return root, plan, result, status


def test_every_readme_command_runs_as_written(readme_run):
    root, plan, result, status = readme_run
    output = result.stdout + result.stderr
    for i, command, run, why in plan:
        if run is None:
            print(f"not run: {command} ({why})")
            continue
        assert status.get(str(i)) == "0", (
            f"README command [{i}] {command!r} (run as {run!r}) failed with status {status.get(str(i))}:\n"
            + "\n".join(output.splitlines()[-80:]))
    assert result.returncode == 0, output[-4000:]


def test_the_readme_runs_every_shipped_config(readme_run):
    """Every config in configs/ is run by a README command (the large grid as a dry run; it runs for
    real, on a subset, in test_large_config.py)."""
    _, plan, _, _ = readme_run
    commands = " ".join(run for _, _, run, _ in plan if run)
    for config in sorted((REPO / "configs").glob("*.yaml")):
        assert f"--configfile configs/{config.name}" in commands, config.name


def test_each_experiment_of_the_readme_has_its_results(readme_run):
    root, *_ = readme_run
    for name in ("penguins", "tournament-classification", "tournament-regression", "streaming"):
        run = json.loads((root / f"results/{name}/run.json").read_text())
        assert run["experiment"] == name and run["winner"] and not run["failed_families"]
    assert (root / "report.html").is_file()  # snakemake --report
    assert (root / "penguins-copy/scores.parquet").is_file()
    assert not (root / "results/penguins-large").exists()  # a dry run wrote nothing


def test_the_readme_exports_travel(readme_run):
    """`manymodels export skops` left a copy whose every model is a skops file; `manymodels export
    mlflow`, run twice on the tournament, left one parent and one child run per configuration."""
    root, *_ = readme_run
    copy = root / "results/tournament-classification-skops"
    assert list(copy.glob("fits/*/*/fold-*.skops")) and not list(copy.rglob("*.joblib"))
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tournament-classification")
    roles = [run.data.tags["manymodels.role"] for run in client.search_runs([experiment.experiment_id])]
    configurations = len(pd.read_parquet(root / "results/tournament-classification/cv_results.parquet"))
    assert sorted(roles) == ["configuration"] * configurations + ["experiment"]


def test_chosen_estimators_are_built_from_selection_json_and_fit(readme_run):
    """Parameter types round-trip: each family's chosen configuration, read back from selection.json
    (no float where the config had an int, null kept), builds its estimator, which fits."""
    root, *_ = readme_run
    sys.path.insert(0, str(REPO / "workflow"))
    import yaml

    from manymodels.experiment.estimators import build_estimator
    from manymodels.experiment.tasks import estimator_definition

    checked = 0
    for name in ("penguins", "tournament-classification", "tournament-regression", "streaming"):
        run = json.loads((root / f"results/{name}/run.json").read_text())
        config = yaml.safe_load((root / run["config_file"]).read_text())
        selection = json.loads((root / f"results/{name}/selection.json").read_text())
        data_file = root / f"results/{name}/data" / ("stream.parquet" if config.get("streaming") else "data.parquet")
        frame = pd.read_parquet(data_file).head(2000)
        label = config["data"].get("label")
        features = json.loads((root / f"results/{name}/data/summary.json").read_text())["features"]
        for model, choice in selection["models"].items():
            spec, chosen = config["models"][model], choice["chosen"]
            est = build_estimator(estimator_definition(spec), spec.get("kwargs", {}), chosen["params"],
                                  config_id=chosen["config_id"])
            est.fit(frame[features], frame[label] if label else None)  # clusterers ignore the label
            checked += 1
    assert checked == 1 + 4 + 4 + 1
