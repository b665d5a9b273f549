"""The README is executable: every command of its `sh` and `python` blocks runs as written, in
README order, and the test fails when one fails.

The commands fall into three chains that share no files (CHAINS): the main one (the default
experiment, the classification tournament, its exports and the model-format benchmark that reads
both experiments), the other shipped configs, and the benchmarks. Each chain runs in README order in
one shell in a fresh copy of the repository of its own, the three at once (about half the time of
one after the other on 2 cores: much of a run is one process waiting or starting up).

A few commands cannot run as written here; each is adapted in one stated way (ADAPTED): the test
command itself is not run again from inside the tests, the Slurm command runs as a dry run (`-n`),
the large grid's dry run is test_large_config.py's, and a long benchmark runs with its quickest
documented options.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import REPO

pytestmark = pytest.mark.integration

BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```$", re.M | re.S)
# (pattern, how it runs here: a command with {command} for the original, or None to skip; why)
ADAPTED = [
    (r"^make test\b", None, "it runs the test suite this test belongs to"),
    (r"configs/penguins-large\.yaml", None,
     "the large grid takes about 16 minutes; its dry run (19,104 jobs, about 50 s) is test_large_config.py's"),
    (r"--profile slurm\b", "{command} -n", "no Slurm cluster is needed for a dry run"),
    (r"^make bench-scale$", "make -n bench-scale", "about 6 minutes: make prints the command instead"),
    (r"bench_streaming\.py --sizes 100000 1000000 10000000$", None,
     "1e7 rows take minutes; its quickest documented sizes are the command before it, run as written"),
    (r"bench_search\.py --stride 8\b", "python benchmarks/bench_search.py --stride 80 --cores 2",
     "three runs of 200 configurations take minutes: the documented quickest check"),
    (r"bench_model_format\.py$", "{command} --per-family 10",
     "every kept model of two experiments takes about 2 minutes: its documented quicker sample"),
]
# (chain, the commands it takes); every other command is the main chain's, and `source .venv/bin/activate`
# opens every chain. No chain reads what another writes: the model-format benchmark reads the default
# experiment and the tournament, so it stays in the main chain.
CHAINS = [
    ("configs", r"--configfile configs/(?!tournament-classification\.yaml)|^make slurm-profile\b|--profile slurm\b"),
    ("benchmarks", r"benchmarks/bench_(?!model_format\.py)|^make (-n )?bench"),
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
    assert 0 < len(changed) <= 7, changed
    assert adapted("snakemake --cores 2 --configfile configs/penguins-large.yaml  # big")[0] is None
    assert adapted("snakemake --profile slurm")[0] == "snakemake --profile slurm -n"


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


def chain_of(kind: str, command: str) -> str | None:
    """The chain a command runs in (None: every chain)."""
    if kind == "sh" and command.startswith("source "):
        return None
    return next((name for name, pattern in CHAINS if re.search(pattern, command)), "main")


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """Every chain run to its end or first failure. Returns (roots, plan, outputs, status): each
    chain's copy, (i, command, run, why, chain) per command, each chain's output, and the exit
    status of each command run, by (chain, i), and of each chain's shell, by (chain, "exit")."""
    if not (REPO / ".venv" / ".installed").is_file():
        pytest.skip("the README's commands use the environment `make` creates in .venv: run the tests with `make test`")
    base = tmp_path_factory.mktemp("readme")
    names = ["main", *(name for name, _ in CHAINS)]
    roots = {name: fresh_copy(base / name) for name in names}
    lines = {name: ["set -u", f"cd {shlex.quote(str(roots[name]))}"] for name in names}
    plan = []
    for i, (kind, command) in enumerate(readme_commands((REPO / "README.md").read_text())):
        chain = chain_of(kind, command)
        if kind == "python":
            (roots[chain] / f".readme-block-{i}.py").write_text(command)
            run, why = f"python .readme-block-{i}.py", None
        else:
            run, why = adapted(command)
        plan.append((i, command, run, why, chain))
        if run is None:
            continue
        for name in [chain] if chain else names:
            lines[name] += [f"echo {shlex.quote(f'=== [{i}] {run}')}", run, "rc=$?",
                            f'echo "{i} $rc" >> .readme-status', '[ "$rc" -eq 0 ] || exit "$rc"']
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MANYMODELS_", "VIRTUAL_ENV"))}
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    running = {}
    for name, root in roots.items():
        (root / ".readme.sh").write_text("\n".join(lines[name]) + "\n")
        output = open(root / ".readme-output", "w")
        running[name] = (subprocess.Popen(["bash", ".readme.sh"], cwd=root, stdout=output, stderr=subprocess.STDOUT,
                                          env={**env, "XDG_CONFIG_HOME": str(base / f"config-home-{name}")},
                                          start_new_session=True), output)
    deadline = time.monotonic() + TIMEOUT
    try:
        for name, (proc, output) in running.items():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"README chain {name} did not finish within {TIMEOUT} s:\n"
                            + (roots[name] / ".readme-output").read_text()[-4000:])
    finally:
        for proc, output in running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            output.close()
    outputs = {name: (root / ".readme-output").read_text() for name, root in roots.items()}
    status = {(name, "exit"): proc.returncode for name, (proc, _) in running.items()}
    for name, root in roots.items():
        if (root / ".readme-status").exists():
            status.update(((name, i), rc) for i, rc in (line.split() for line in (root / ".readme-status").read_text()
                                                        .splitlines()))
    return roots, plan, outputs, status


def test_every_readme_command_runs_as_written(readme_run):
    roots, plan, outputs, status = readme_run
    for i, command, run, why, chain in plan:
        if run is None:
            print(f"not run: {command} ({why})")
            continue
        for name in [chain] if chain else roots:
            assert status.get((name, str(i))) == "0", (
                f"README command [{i}] {command!r} (run as {run!r}, chain {name}) failed with status "
                f"{status.get((name, str(i)))}:\n" + "\n".join(outputs[name].splitlines()[-80:]))
    for name in roots:
        assert status[(name, "exit")] == 0, outputs[name][-4000:]


def test_the_chains_split_the_readme_as_stated(readme_run):
    """Each chain runs in a copy of its own; the main chain starts with `make run` and holds the
    tournament's commands and the benchmark that reads its results, the others what CHAINS says."""
    roots, plan, _, _ = readme_run
    chains = {}
    for i, command, run, why, chain in plan:
        if run is not None:
            chains.setdefault(chain, []).append(command)
    assert chains["main"][0].startswith("make run") and chains[None] == ["source .venv/bin/activate"]
    assert any("bench_model_format" in c for c in chains["main"])
    assert sum("tournament-classification" in c for c in chains["main"]) >= 5
    assert all("--configfile configs/" in c or "slurm" in c for c in chains["configs"])
    assert all("bench" in c for c in chains["benchmarks"])
    assert len(set(roots.values())) == 3


def found(roots: dict, path: str) -> Path:
    """The copy of the chain that wrote ``path`` (exactly one did)."""
    hits = [root for root in roots.values() if (root / path).exists()]
    assert len(hits) == 1, (path, hits)
    return hits[0]


# Shipped configs whose README command another test runs: the large grid's, as a dry run of the whole
# grid with the same --configfile (and a subset of it for real).
RUN_ELSEWHERE = {"penguins-large.yaml": "tests/integration/test_large_config.py"}


def test_the_readme_runs_every_shipped_config(readme_run):
    """Every config in configs/ is run by a README command, here or, for the large grid, in
    test_large_config.py (a dry run of its whole grid, and a subset for real)."""
    _, plan, _, _ = readme_run
    commands = " ".join(run for _, _, run, _, _ in plan if run)
    documented = " ".join(command for _, command, _, _, _ in plan)
    for config in sorted((REPO / "configs").glob("*.yaml")):
        assert f"--configfile configs/{config.name}" in documented, config.name
        if config.name in RUN_ELSEWHERE:
            test = (REPO / RUN_ELSEWHERE[config.name]).read_text()
            assert f'"--dry-run", "--logger-manymodels-jobs", "--configfile", "configs/{config.name}"' in test
        else:
            assert f"--configfile configs/{config.name}" in commands, config.name


def test_each_experiment_of_the_readme_has_its_results(readme_run):
    roots, *_ = readme_run
    for name in ("penguins", "tournament-classification", "tournament-regression", "streaming"):
        run = json.loads((found(roots, f"results/{name}/run.json") / f"results/{name}/run.json").read_text())
        assert run["experiment"] == name and run["winner"] and not run["failed_families"]
    assert (roots["main"] / "report.html").is_file()  # snakemake --report
    assert (roots["main"] / "penguins-copy/scores.parquet").is_file()
    assert not any((root / "results/penguins-large").exists() for root in roots.values())  # a dry run wrote nothing


def test_the_readme_exports_travel(readme_run):
    """`manymodels export skops` left a copy whose every model is a skops file; `manymodels export
    mlflow`, run twice on the tournament, left one parent and one child run per configuration."""
    root = readme_run[0]["main"]
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
    roots, *_ = readme_run
    sys.path.insert(0, str(REPO / "workflow"))
    import yaml

    from manymodels.experiment.estimators import build_estimator
    from manymodels.experiment.tasks import estimator_definition

    checked = 0
    for name in ("penguins", "tournament-classification", "tournament-regression", "streaming"):
        root = found(roots, f"results/{name}/run.json")
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


@pytest.mark.parametrize("name", ["tournament-classification", "tournament-regression"])
def test_the_shipped_tournaments_end_to_end(readme_run, name):
    """The shipped tournaments, as the README's `snakemake --cores 2 --configfile configs/<name>.yaml`
    ran them: every family's choice, the winner refitted on all rows and scored on the held-out set
    no CV fold sees, the report's ranking and comparison, the nested estimate where configured."""
    import yaml

    results = found(readme_run[0], f"results/{name}/run.json") / "results" / name
    config = yaml.safe_load((REPO / f"configs/{name}.yaml").read_text())
    selection = json.loads((results / "selection.json").read_text())
    overall = selection["overall"]
    assert set(selection["models"]) == set(config["models"]) and overall["model"] in config["models"]
    assert json.loads((results / "run.json").read_text())["winner"]["test"]  # scored on the held-out set
    final = results / f"models/{overall['model']}/{overall['config_id']}/fold-all.joblib"
    assert final.is_file()
    held_out = pd.read_parquet(results / "data/holdout.parquet")["holdout"]
    folds = pd.read_parquet(results / "data/folds.parquet")
    assert (folds[held_out] == 0).all().all()  # no CV fold sees the held-out rows
    report = (results / "report.html").read_text()
    assert "Ranking of the model families" in report and "test_predictions.png" in report and "cv_scores.png" in report
    assert "How sure is the choice?" in report
    equivalent = selection["comparison"]["equivalent"]
    assert bool(re.search(r"The best and the \d+ configurations? practically equivalent to it", report)) == (
        equivalent > 0)  # the table of those practically equivalent, when there are some
    if config.get("nested"):  # the honest estimate of the procedure, beside the winner's CV score
        nested = json.loads((results / "nested.json").read_text())
        metric = selection["selection_metric"]
        assert len(nested["outer_folds"]) == config["nested"]["outer"]["n_splits"]
        assert nested["estimates"][metric]["mean"] is not None and f"Nested estimate of {metric}" in report
    scores = pd.read_parquet(results / "scores.parquet")
    assert (scores["status"] == "ok").all()
    if name == "tournament-classification":
        svc = scores[scores["model"] == "svc"]
        assert svc["log_loss"].isna().all() and svc["roc_auc"].notna().all()
        assert svc["score_error"].str.contains("log_loss: AttributeError").all()
