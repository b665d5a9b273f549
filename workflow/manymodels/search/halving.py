"""Successive halving: after each rung, the best 1 / factor of each family go on.

Rung r of R + 1 fits the configurations still in the search with 1 / factor^(R - r) of the full
resource on every CV fold (:mod:`manymodels.experiment.halving` names each rung's folds,
'3~1of9'); the last rung is the full resource, whose fits are the very fits of the full grid. A
rung's configurations are ranked by mean CV score within their family, scored on the whole test
folds, and the best ``ceil(n / factor)`` go on to the next rung, on the same folds, as
scikit-learn's HalvingGridSearchCV does. Each decision is ``halving/rung-<r>.json``.
"""

from __future__ import annotations

import math

from ..experiment.halving import describe_resource, halving_settings, n_rungs, rung_fold, split_fold
from ..task.io import write_json
from . import Key, Search, score_file, survivors


class Halving(Search):
    key, scope, folder, decide = "halving", "experiment", "halving", "manymodels.search.halving:halving_decision"

    def __init__(self, plan, model=None):
        super().__init__(plan, model)
        config = plan.config
        self.settings = halving_settings(config)
        self.rungs = n_rungs(self.settings, [sum(t["model"] == m for t in plan.tasks) for m in config["models"]],
                             config["models"])

    def stages(self) -> list[str]:
        return [f"rung-{rung}" for rung in range(self.rungs - 1)]

    def kept(self, rung: int) -> set[Key] | frozenset[Key]:
        """The configurations fitted at ``rung``: every one at rung 0, then those the decision after
        the previous rung kept."""
        return set(self.plan.task) if rung == 0 else survivors(self.read(f"rung-{rung - 1}"))

    def rung_fold(self, fold: str, rung: int, model: str) -> str:
        """The fold name of a fit of CV fold ``fold`` at ``rung`` (the last rung's is the fold itself)."""
        return rung_fold(fold, rung, self.rungs, self.settings, self.plan.config["models"], model)

    def decision_inputs(self, stage: str) -> list[str]:
        """The scores of the rung's configurations on every CV fold."""
        rung = int(stage.removeprefix("rung-"))
        return [score_file(model, config_id, self.rung_fold(fold, rung, model))
                for model, config_id in sorted(self.kept(rung)) for fold in self.plan.folds]

    def decision_kwargs(self, stage: str) -> dict:
        plan = self.plan
        return {"metric_names": list(plan.metrics), "metric": plan.selection_metric,
                "greater_is_better": plan.metrics[plan.selection_metric]["greater_is_better"],
                "factor": self.settings["factor"], "rung": int(stage.removeprefix("rung-"))}

    def score_files(self, tasks: list[dict]) -> list[str]:
        """Each configuration's scores at the last rung it reached (and on every row, for those that
        reached the last rung, when something needs it)."""
        reached = [self.kept(rung) for rung in range(self.rungs)]
        files = []
        for t in tasks:
            key = (t["model"], t["config_id"])
            rung = max(r for r in range(self.rungs) if key in reached[r])
            folds = [self.rung_fold(f, rung, t["model"]) for f in self.plan.folds]
            if rung == self.rungs - 1 and "full" in self.plan.task_folds:
                folds.append("full")
            files += [score_file(t["model"], t["config_id"], fold) for fold in folds]
        return files


def halving_decision(*, score_files: list[str], metric_names: list[str], metric: str, greater_is_better: bool,
                     factor: int, rung: int, out: str) -> str:
    """Rank the configurations of a rung (those whose score files are given) within each family
    and keep the best ``1 / factor`` of each for the next rung; write the decision to ``out``."""
    import numpy as np

    from ..results.aggregate import fit_tally, read_score_table

    scores = read_score_table(score_files, metric_names, check_identity=True).to_pandas()
    resource = split_fold(scores["fold"].iloc[0])[1]
    sign = 1 if greater_is_better else -1
    means = scores.groupby(["model", "config_id"], sort=False)[metric].mean()  # NaN when every fit failed
    rows = scores.groupby(["model", "config_id"], sort=False)["n_train"].median()
    survivors, dropped = [], []
    for model, values in means.groupby(level="model", sort=False):
        order = (sign * values).fillna(-np.inf).sort_values(ascending=False, kind="stable")
        keep = math.ceil(len(order) / factor)
        for rank, ((_, config_id), value) in enumerate(zip(order.index, values[order.index]), start=1):
            entry = {"model": model, "config_id": config_id, "mean": None if np.isnan(value) else float(value),
                     "rank": rank}
            if np.isnan(value):  # never promoted, whatever room the quota leaves
                n = rows.get((model, config_id))
                about = f" (about {n:.0f} rows)" if n is not None and not np.isnan(n) else ""
                dropped.append(entry | {"reason": f"every fit failed with {describe_resource(resource)}{about}"})
            elif rank <= keep:
                survivors.append(entry)
            else:
                dropped.append(entry | {"reason": f"rank {rank} of {len(order)} in {model} with "
                                                  f"{describe_resource(resource)}; the best {keep} went on"})
    # The survivors' fits at this rung are in no table (the tables hold each configuration at the last
    # rung it reached): counted here, so that every fit is counted once.
    went_on = {(e["model"], e["config_id"]) for e in survivors}
    kept = scores[[key in went_on for key in zip(scores["model"], scores["config_id"])]]
    write_json({"rung": rung, "resource": resource, "describe": describe_resource(resource), "metric": metric,
                "factor": factor, "survivors": survivors, "dropped": dropped, "superseded_fits": fit_tally(kept)},
               out)
    return f"rung {rung} ({describe_resource(resource)}): {len(survivors)} go on, {len(dropped)} dropped"
