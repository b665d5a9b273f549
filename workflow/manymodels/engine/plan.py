"""The plan of an experiment: every file list and parameter the rules ask Snakemake for, from plain data.

Snakemake asks the workflow, job by job, which files a job reads (input functions) and what else it
depends on (params). The answers follow from the checked experiment alone (its configurations,
folds and settings) and, for a staged search, from the decisions made so far. So one object,
built from plain data (the config after the schema's defaults, what
:func:`manymodels.experiment.check.check_experiment` returns, and the code hashes), computes them
all, and ``tests/test_plan.py`` checks them without running Snakemake. Each rule asks the plan in
one line; what only Snakemake knows (checkpoints, the worker pool, the role of the process on a
cluster) stays in the ``.smk`` files, which hand the plan two readers: a stage's decision, and the
selection (``results/<name>/selection.json``). The plan calls a reader only when the answer depends
on it, as Snakemake plans a checkpoint's dependants only once it has run. What a staged search
fits, stage by stage, is its own module's (:mod:`manymodels.search`); the plan asks it.

Every path starts with ``<results>`` (Snakemake's path variable for ``results/<name>``). Paths and
wildcard values are those of results already on disk: changing one would plan cached fits again.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .. import ConfigError
from ..experiment.config import metric_specs, selection_metric, streaming_settings
from ..experiment.data import inner_fold_name
from ..experiment.estimators import dotted_paths
from ..experiment.grid import grid_parameters
from ..experiment.layout import FILES_PER_SHARD, shard_tasks
from ..experiment.tasks import estimator_definition
from ..search import Search, Decisions, score_file, searches_of
from ..task.model_files import suffix_of

Selection = Callable[[], dict]
# The shard that gathers the score files of a family whose configurations its decisions propose.
TRIALS_SHARD = "trials-{model}"


class Plan:
    """What the rules of one experiment read and depend on.

    ``config``: the config with the schema's defaults; ``checked``: the check's answer (``tasks``,
    ``folds``, ``outer_folds``, ``source_file``, ``features``, ``versions``); ``code``: the code hash
    of each stage (:data:`manymodels.engine.provenance.STAGE_MODULES`); ``own_code``: per family,
    the hash of the user's own modules its estimator comes from (None: none); ``metric_code``: the
    same for the metrics. ``decisions`` and ``selection`` read a stage's decision (folder, stage) and
    the selection (see the module docstring); ``per_shard``: about how many score files one shard gathers.
    """

    def __init__(self, config: dict, checked: dict, *, config_file: str, code: dict[str, str],
                 own_code: dict[str, str | None], metric_code: str | None = None, per_shard: int = FILES_PER_SHARD,
                 decisions: Decisions | None = None, selection: Selection | None = None):
        self.config, self.config_file = config, config_file
        self.tasks = checked["tasks"]
        self.task = {(t["model"], t["config_id"]): t for t in self.tasks}
        self.folds = checked["folds"]
        self.outer_folds = checked.get("outer_folds", [])  # nested CV: 'o0', 'o1', ...
        self.versions = checked["versions"]
        self.data = {"features": checked["features"], "label": config["data"]["label"]}
        self.source_file = [checked["source_file"]] if checked["source_file"] else []
        self.metrics = metric_specs(config["metrics"], config_file=config_file)
        self.selection_metric = selection_metric(config)
        # Streaming (out-of-core): one task per configuration, learnt from the data file in batches;
        # fold 'stream' stands for the whole stream.
        self.streaming = streaming_settings(config)
        source = config["data"]["source"]
        self.generated_stream = isinstance(source, dict) and source["generator"] == "logistic_interactions"
        self.stream_data = "<results>/data/stream.parquet" if self.generated_stream else checked["source_file"]
        # Fold 'full' (every training row) for every configuration only when something uses it: an
        # in-sample metric, or refit: all (the held-out score of every configuration). Otherwise each
        # family's chosen configuration alone is refitted after selection, as GridSearchCV refits its
        # best. (A streaming fit learns from every row: its fold 'stream' is already the final fit.)
        self.full_for_all = (bool(self.streaming) or config["refit"] == "all"
                             or any(spec["on"] == "train" for spec in self.metrics.values()))
        self.task_folds = ["stream"] if self.streaming else self.folds + (["full"] if self.full_for_all else [])
        # The format every model file is kept in: joblib (.joblib) or skops (.skops, safe to open elsewhere).
        self.model_format = config["model_format"]
        self.model_suffix = suffix_of(self.model_format)
        # Where each family's chosen configuration fitted on every training row is (selection.json names it).
        folder, fold = (("fits", "stream") if self.streaming else ("fits", "full") if self.full_for_all
                        else ("models", "full"))
        self.final_model = f"{folder}/{{model}}/{{config_id}}/fold-{fold}{self.model_suffix}"
        # Models refitted once configurations are chosen (see kept_model_files).
        self.refits_after_selection = (config["keep_models"] == "best" or bool(config["holdout"])
                                       or not self.full_for_all)
        self.code, self.own_code = code, own_code
        # Shared pipeline prefixes (manymodels.experiment.prefixes, decided by the config check): per
        # (model, config_id) that shares one, its prefix; each (model, prefix_id) is fitted once per
        # fold by a job of its own.
        self.prefixes = {tuple(key.split("/")): prefix for key, prefix in checked.get("prefixes", {}).items()}
        # A family whose trials a search proposes as it goes, and which set only its final step: one
        # prefix for every trial.
        self.proposed_prefixes = checked.get("proposed_prefixes", {})
        self.prefix_definitions = {(model, p["prefix_id"]): p for (model, _), p in self.prefixes.items()} | {
            (model, p["prefix_id"]): p for model, p in self.proposed_prefixes.items()}
        self.score_code = code["score"] if metric_code is None else f"{code['score']}+{metric_code}"
        # Score files are gathered in shards named by the leading hex digits of the config_id ('all'
        # for one shard), so a changed configuration makes aggregation reread one shard, not every file.
        self.shards = shard_tasks(self.tasks, len(self.task_folds), per_shard=per_shard)
        self._decisions, self._selection = decisions, selection
        # Staged searches (fold racing, successive halving, Bayesian optimisation): what each stage
        # fits follows from the decisions before it. A family whose configurations the decisions
        # propose has a shard of its own.
        self.searches: list[Search] = searches_of(self)
        self.staged = bool(self.searches)
        self.proposing = {s.model: s for s in self.searches if s.planned_tasks()}
        self.shards.update({TRIALS_SHARD.format(model=model): [] for model in self.proposing})

    # The tasks: one per (configuration, fold).

    def task_of(self, model: str, config_id: str) -> dict:
        """The configuration record behind a job's wildcards."""
        if (model, config_id) in self.task:
            return self.task[(model, config_id)]
        if model in self.proposing and (record := self.proposing[model].configuration(config_id)):
            return record  # a trial's: its fit jobs exist once the decision that proposed it is read
        raise ConfigError(f"{model}/{config_id} is not a configuration of {self.config_file}")

    def proposed_configurations(self) -> set[tuple[str, str]]:
        """(model, config_id) of every configuration the searches that propose them have proposed, read
        from their decisions (raises while one of those is not made yet)."""
        return {(model, record["config_id"]) for model, search in self.proposing.items()
                for record in search.configurations()}

    def planned_fits(self) -> int:
        """Fits of the full grid (and of the trials asked for), and nested CV's inner tasks (a staged
        search that drops configurations makes fewer)."""
        proposed = sum(s.planned_tasks() for s in self.proposing.values())
        return ((len(self.tasks) + proposed) * len(self.task_folds)
                + len(self.tasks) * len(self.outer_folds) * len(self.folds))

    def planned_jobs(self, shards: Iterable[str]) -> int:
        """Fit and score jobs of the named shards' tasks and of nested CV's inner tasks."""
        proposed = sum(s.planned_tasks() for model, s in self.proposing.items()
                       if TRIALS_SHARD.format(model=model) in shards)
        return (2 * len(self.task_folds) * (sum(len(self.shards[s]) for s in shards) + proposed)
                + 2 * len(self.tasks) * len(self.outer_folds) * len(self.folds) + self.planned_prefixes())

    def planned_prefixes(self) -> int:
        """Prefix jobs: one per shared (model, prefix) and fold a configuration of it is fitted on."""
        folds = [f for f in self.task_folds if self._may_share(f)]
        inner = [inner_fold_name(outer, fold) for outer in self.outer_folds for fold in self.folds]
        return len(self.prefix_definitions) * (len(folds) + len(inner))

    def split_inputs(self, fold: str) -> dict[str, str]:
        """The prepared data and what splits it: the CV folds, or for fold 'full' the held-out rows."""
        if fold == "stream":
            return {"data": self.stream_data}
        inputs = {"data": "<results>/data/data.parquet"}
        if fold.startswith("o"):  # an inner fold of nested CV: its outer fold's file
            inputs["folds"] = f"<results>/data/nested/outer-{fold[1:].split('-')[0]}.parquet"
        elif fold == "full":
            inputs["folds"] = "<results>/data/holdout.parquet"
        elif fold != "all":
            inputs["folds"] = "<results>/data/folds.parquet"
        return inputs

    @staticmethod
    def _may_share(fold: str | None) -> bool:
        """Folds whose fits may share a prefix: not a stream, a rung of successive halving (a share of
        the rows, or a resource parameter) or fold 'all' (refitted after selection, once)."""
        return fold is not None and fold not in ("stream", "all") and "~" not in fold

    def shared_prefix(self, model: str, config_id: str, fold: str | None) -> dict | None:
        """The prefix a (configuration, fold) fits its final step on (None: it fits as a whole)."""
        if not self._may_share(fold):
            return None
        return self.prefixes.get((model, config_id)) or self.proposed_prefixes.get(model)

    @staticmethod
    def prefix_files(model: str, prefix_id: str, fold: str) -> dict[str, str]:
        """A prefix job's files: the fitted steps, their output for the training and the test rows, the metadata."""
        stem = f"<results>/prefixes/{model}/{prefix_id}/fold-{fold}"
        return {"model": f"{stem}.joblib", "train": f"{stem}.train.parquet", "test": f"{stem}.test.parquet",
                "meta": f"{stem}.json"}

    def fit_inputs(self, model: str, config_id: str, fold: str) -> dict[str, str]:
        """What a fit job reads: the prepared data and its split, and its shared prefix's fitted steps,
        output for the training rows and metadata when it has one."""
        return self.split_inputs(fold) | self._prefix_inputs(model, config_id, fold, ("model", "train", "meta"))

    def score_inputs(self, model: str, config_id: str, fold: str) -> dict[str, str]:
        """What a score job reads besides the fit: the prepared data and its split, and, for a fit on
        a shared prefix, that prefix's output for the fold's rows and its metadata (the final step
        scores them; no transform again)."""
        return self.split_inputs(fold) | self._prefix_inputs(model, config_id, fold, ("train", "test", "meta"))

    def _prefix_inputs(self, model: str, config_id: str, fold: str, kinds: tuple[str, ...]) -> dict[str, str]:
        """The ``kinds`` of files of the shared prefix a (configuration, fold) fits on, as prefix_<kind>
        inputs (none when it fits as a whole)."""
        prefix = self.shared_prefix(model, config_id, fold)
        if not prefix:
            return {}
        files = self.prefix_files(model, prefix["prefix_id"], fold)
        return {f"prefix_{kind}": files[kind] for kind in kinds}

    def score_provenance(self, model: str, config_id: str, fold: str) -> str:
        """The code a score job depends on: the score stage's (and the metrics' own), and the prefix
        stage's for a fit on a shared prefix (its score reads the prefix's output)."""
        if self.shared_prefix(model, config_id, fold):
            return f"{self.score_code}+prefix:{self.code['prefix']}"
        return self.score_code

    def prefix_params(self, model: str, prefix_id: str) -> dict:
        """What a prefix job hands its task (the steps and their options) and depends on besides its inputs."""
        if (model, prefix_id) not in self.prefix_definitions:
            raise ConfigError(f"{model}/{prefix_id} is not a shared prefix of {self.config_file}")
        prefix = self.prefix_definitions[(model, prefix_id)]
        return {
            "task": {"steps": prefix["steps"], "options": prefix["options"]},
            "provenance": {"code": self.code["prefix"], "version": self.versions[model]}
            | ({"own_code": self.own_code[model]} if self.own_code[model] else {}),
        }

    def fit_params(self, model: str, config_id: str, fold: str | None) -> dict:
        """What a fit job hands its task (the configuration) and what else it depends on besides its
        inputs (the package code it runs, the estimator's version). Snakemake stores these and reruns
        the fit when they change: their shape is that of the fits already on disk."""
        task = self.task_of(model, config_id)
        return {
            "task": {key: task[key] for key in ("estimator", "kwargs", "fit_kwargs", "params")},
            "streaming": {"streaming": self.streaming} if fold == "stream" else {},
            "provenance": {"code": self.code["fit"], "version": self.versions[model]}
            | ({"own_code": self.own_code[model]} if self.own_code[model] else {})
            | ({"model_format": self.code["skops"]} if self.model_format == "skops" else {})
            | ({"prefix": self.code["prefix"]} if self.shared_prefix(model, config_id, fold) else {}),
        }

    @staticmethod
    def fit_function(fold: str) -> str:
        """The package function that fits a task: batch learning, or streaming for fold 'stream'."""
        return "manymodels.task.streaming:fit_stream_task" if fold == "stream" else "manymodels.task.fit:fit_task"

    # Gathering and aggregation.

    def shard_files(self) -> list[str]:
        return [f"<results>/shards/scores-{shard}.parquet" for shard in sorted(self.shards)]

    def shard_score_files(self, shard: str) -> list[str]:
        """The score files of a shard's tasks (in a staged search, only the stages each configuration reached)."""
        if shard.startswith("trials-"):
            search = self.proposing[shard.removeprefix("trials-")]
            return search.score_files(search.configurations())
        files, left = [], list(self.shards[shard])
        for search in self.searches:
            mine = [t for t in left if search.covers(t["model"])]
            if mine:
                files += search.score_files(mine)
                left = [t for t in left if not search.covers(t["model"])]
        return files + [score_file(t["model"], t["config_id"], fold) for t in left for fold in self.task_folds]

    # Staged searches: each stage's decision, from the decisions before it.

    def stage_decisions(self) -> list[str]:
        """Every decision of the staged searches (none without one)."""
        return [path for search in self.searches for path in search.decision_files()]

    def decision(self, folder: str, stage: str) -> dict:
        """A decision already made (the workflow's reader raises Snakemake's checkpoint exception until it is)."""
        return self._decisions(folder, stage)

    def search_of(self, folder: str, stage: str) -> Search:
        for search in self.searches:
            if search.folder == folder and stage in search.stages():
                return search
        raise ConfigError(f"{folder}/{stage} is not a stage of a search of {self.config_file}")

    def decision_inputs(self, folder: str, stage: str) -> dict[str, list[str]]:
        """What a stage's decision reads, by argument of its function."""
        inputs = self.search_of(folder, stage).decision_inputs(stage)
        return inputs if isinstance(inputs, dict) else {"score_files": inputs}

    def decision_params(self, folder: str, stage: str) -> dict:
        """The decision's function and what it is handed and depends on (besides its inputs)."""
        search = self.search_of(folder, stage)
        return {"function": search.decide, "kwargs": search.decision_kwargs(stage), "code": self.code["aggregate"]}

    # Selection, and what it refits.

    def selection_params(self) -> dict:
        """What selection depends on (``final_model`` is a format string with braces for
        ``{model}`` and ``{config_id}``)."""
        return {
            "metrics": self.metrics,
            "selection_metric": self.selection_metric,
            "simplest": self.config["selection"]["simplest"],
            "rule": self.config["selection"]["rule"],
            "rope": self.config["selection"]["rope"],
            "credibility": self.config["selection"]["credibility"],
            "grid_parameters": {model: grid_parameters(spec) for model, spec in self.config["models"].items()},
            "final_model": self.final_model,
            "code": self.code["aggregate"],
        }

    def outer_selection_params(self) -> dict:
        """What the selection inside each outer fold of nested CV depends on: selection's settings,
        less the final model, the code (its rule names its own) and the grid parameters."""
        return {key: value for key, value in self.selection_params().items()
                if key not in ("final_model", "code", "grid_parameters")}

    def kept_model_files(self, choices: dict) -> list[str]:
        """What is fitted after selection (``choices``: results/selection.json): each family's chosen
        configuration on every training row (fold 'full') when no earlier fit did that for every
        configuration, or with keep_models: best, and its score on the held-out set; with a held-out
        set, the overall winner on every row (fold 'all')."""
        config, suffix = self.config, self.model_suffix
        files = []
        chosen = [c["chosen"] for c in choices["models"].values() if c["chosen"]]
        if config["keep_models"] == "best" or not self.full_for_all:
            files += [f"<results>/models/{c['model']}/{c['config_id']}/fold-full{suffix}" for c in chosen]
        if config["holdout"] and not self.full_for_all:
            files += [f"<results>/models/{c['model']}/{c['config_id']}/fold-full.parquet" for c in chosen]
        if config["holdout"] and choices["overall"]:
            overall = choices["overall"]
            files.append(f"<results>/models/{overall['model']}/{overall['config_id']}/fold-all{suffix}")
        return files

    def kept_models(self, deleted: list[str]) -> list[str]:
        """The refits after selection (read from the selection only when there are any) and the kept
        models that were ``deleted`` (keep_models: all: the same command fits them again)."""
        if not self.refits_after_selection:
            return deleted
        return self.kept_model_files(self._selection()) + deleted

    def refit_scores(self) -> list[str]:
        """The held-out scores of the chosen configurations refitted after selection (none when every
        configuration was fitted on all rows: their scores are in the tables)."""
        if self.full_for_all or not self.config["holdout"]:
            return []
        return [path for path in self.kept_model_files(self._selection()) if path.endswith(".parquet")]

    def winner_full_model(self) -> dict[str, str]:
        """The overall winner fitted on every training row, and its metadata (for the test-set plot)."""
        winner = self._selection()["overall"]
        if not winner:
            return {}
        path = f"<results>/{self.final_model.format(model=winner['model'], config_id=winner['config_id'])}"
        return {"model": path, "meta": path.removesuffix(self.model_suffix) + ".json"}

    # Nested CV and the report.

    def inner_score_files(self, outer: str) -> list[str]:
        """Nested CV: the score files of every configuration on the inner folds of outer fold ``outer`` (its index)."""
        return [
            score_file(t["model"], t["config_id"], inner_fold_name(f"o{outer}", fold))
            for t in self.tasks
            for fold in self.folds
        ]

    def outer_fold_dirs(self) -> list[str]:
        return [f"<results>/nested/outer-{outer}" for outer in range(len(self.outer_folds))]

    def nested_files(self) -> list[str]:
        """The nested CV estimate the report shows (none without nested CV)."""
        return ["<results>/nested.json"] if self.outer_folds else []

    def plot_files(self) -> list[str]:
        config = self.config
        files = [f"<results>/plots/{model}/{metric}.png" for model in config["models"] for metric in self.metrics]
        files += ["<results>/plots/cv_scores.png", "<results>/plots/families.png"]
        if self.staged:
            files.append("<results>/plots/race.png")
        if config["holdout"] and config["data"]["label"]:
            files.append("<results>/plots/test_predictions.png")
        return files


def own_code_paths(config: dict, *, config_file: str) -> tuple[dict[str, list[str]], list[str]]:
    """The dotted paths each family's fits import (by family) and those every score imports (the
    metric functions): the workflow hashes the user's own modules among them
    (:func:`manymodels.engine.provenance.own_code_hash`) and hands the plan the hashes."""
    families = {model: [path for _, path in dotted_paths(estimator_definition(spec))]
                for model, spec in config["models"].items()}
    metrics = metric_specs(config["metrics"], config_file=config_file)
    return families, [spec["function"] for spec in metrics.values() if "function" in spec]
