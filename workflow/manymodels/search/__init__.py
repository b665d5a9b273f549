"""Searches: strategies around the one fit-and-score task.

The words, one meaning each:

- a **configuration** is one point of a family's search space (``model``, ``config_id``);
- a **task** is a configuration on one fold: one fit job and one score job, cached like any other;
- a **stage** is a decision point of a staged search, and what it fits before that point (fold
  racing: one CV fold; successive halving: one rung; Bayesian optimisation: one batch of trials);
- a stage's **decision**, written as ``results/<name>/<folder>/<stage>.json``, says which
  configurations the next stage fits (and, for a search that proposes configurations, what they
  are). A **verdict** stays what it is elsewhere: a comparison's outcome (:mod:`manymodels.results.verdict`).

A family's configurations come from its search key: ``grid`` and ``random`` give them when the
config is read (:mod:`manymodels.experiment.grid`); a staged search's decisions give or narrow them
as the run goes. A staged search is one module here with one class implementing :class:`Search`
(found by :data:`SEARCHES` under its config key), and that key in the config schema. The
workflow's one checkpoint (``stage_decision``) runs every decision; the plan
(:mod:`manymodels.engine.plan`) asks the searches which files each job reads.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Callable, ClassVar

if TYPE_CHECKING:
    from ..engine.plan import Plan

Key = tuple[str, str]  # (model, config_id): one configuration
# (folder, stage) -> the decision's JSON; raises while that decision is not made yet (Snakemake's checkpoint).
Decisions = Callable[[str, str], dict]


class Search:
    """A staged search: its stages, what each stage's decision reads, and what each configuration
    reached. ``scope`` is 'experiment' (a key beside ``cv``: every family) or 'family' (a key of
    ``models.<name>`` beside ``grid``: that family)."""

    key: ClassVar[str]  # the config key
    scope: ClassVar[str]  # 'experiment' or 'family'
    folder: ClassVar[str]  # results/<name>/<folder>/<stage>.json
    # The function that makes a stage's decision ('module:function'), called with decision_inputs,
    # decision_kwargs and out (the decision's path).
    decide: ClassVar[str]

    def __init__(self, plan: Plan, model: str | None = None):
        self.plan, self.model = plan, model

    @classmethod
    def check(cls, config: dict, model: str | None, *, config_file: str) -> None:
        """Raise a one-line ConfigError, naming the key and ``config_file``, for settings of this search
        that the schema lets through but it cannot run (``model``: the family, for a family search)."""

    def stages(self) -> list[str]:
        """The stages' names, in order (each decision is <folder>/<stage>.json)."""
        raise NotImplementedError

    def decision_inputs(self, stage: str) -> list[str]:
        """The files the decision of ``stage`` reads (score files, earlier decisions)."""
        raise NotImplementedError

    def decision_kwargs(self, stage: str) -> dict:
        """What the decision function is handed besides its inputs, and what it depends on."""
        raise NotImplementedError

    def covers(self, model: str) -> bool:
        """Whether the search decides what this family fits."""
        return self.scope == "experiment" or model == self.model

    def configurations(self) -> list[dict]:
        """Configurations the decisions proposed (a search that proposes them), in the order proposed."""
        return []

    def planned_tasks(self) -> int:
        """How many configurations the search may fit at most (those proposed, not known yet)."""
        return 0

    def score_files(self, tasks: list[dict]) -> list[str]:
        """The score files of ``tasks`` (configurations this search covers) at the stages each reached."""
        raise NotImplementedError

    def decision_files(self) -> list[str]:
        return [f"<results>/{self.folder}/{stage}.json" for stage in self.stages()]

    def read(self, stage: str) -> dict:
        return self.plan.decision(self.folder, stage)


def used_searches(config: dict) -> list[tuple[type[Search], str | None]]:
    """(search class, family) for each staged search a config uses: one per experiment-wide key set
    (family None), one per family for a family key."""
    found = []
    for key, cls in SEARCHES.items():
        if cls.scope == "experiment" and config.get(key):
            found.append((cls, None))
        elif cls.scope == "family":
            found += [(cls, model) for model, spec in config["models"].items() if spec.get(key)]
    return found


def searches_of(plan: Plan) -> list[Search]:
    """The staged searches of an experiment (:func:`used_searches`), each on ``plan``."""
    return [cls(plan, model) for cls, model in used_searches(plan.config)]


def check_experiment(*, config: dict, config_file: str) -> dict:
    """:func:`manymodels.experiment.check.check_experiment`, after each staged search of the config
    has checked its own settings (the workflow's config check, run in a worker)."""
    from ..experiment.check import check_experiment as check_config_and_data

    for cls, model in used_searches(config):
        cls.check(config, model, config_file=config_file)
    return check_config_and_data(config=config, config_file=config_file)


@functools.lru_cache(maxsize=None)
def read_decision(path: str, mtime_ns: int) -> dict:
    """A decision file, read once per version of the file (``mtime_ns``), not once per job that asks.
    The workflow's reader of decisions, which it hands the plan, calls this."""
    with open(path) as fh:
        return json.load(fh)


def survivors(decision: dict) -> frozenset[Key]:
    return frozenset((s["model"], s["config_id"]) for s in decision["survivors"])


def score_file(model: str, config_id: str, fold: str) -> str:
    return f"<results>/scores/{model}/{config_id}/fold-{fold}.parquet"


def _discover() -> dict[str, type[Search]]:
    """Every Search subclass of this package's modules, by config key: a new search is a module here."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return {cls.key: cls for cls in Search.__subclasses__()}


# The staged searches by config key.
SEARCHES: dict[str, type[Search]] = _discover()
