"""Fold racing: spend the fits on the contenders.

Every configuration is scored on the first ``burn_in`` CV folds. Before each further fold, a
decision compares every configuration still in the race with its family's current best on the
folds both were scored on (the corrected resampled t-test of :mod:`manymodels.results.compare`,
one-sided) and drops those significantly worse at level ``alpha``, and those whose every fit has
failed; only the others are fitted on that fold. Each decision is ``race/fold-<k>.json`` (who went
on, who was dropped, with the statistics that decided), and every fit and score is an ordinary
cached job, so raising ``burn_in``, adding folds or switching racing off reuses every fit already made.
"""

from __future__ import annotations

import math

from ..experiment.config import racing_settings
from ..task.io import write_json
from . import Key, Search, score_file, survivors


class Racing(Search):
    key, scope, folder, decide = "racing", "experiment", "race", "manymodels.search.racing:race_decision"

    def __init__(self, plan, model=None):
        super().__init__(plan, model)
        self.settings = racing_settings(plan.config)
        self.folds = plan.folds[self.settings["burn_in"]:]  # the CV folds raced: each fitted for those still in

    def stages(self) -> list[str]:
        return [f"fold-{fold}" for fold in self.folds]

    def kept(self, fold: str) -> set[Key] | frozenset[Key]:
        """The configurations fitted on CV fold ``fold``: every one, or under racing those the
        decision before that fold kept."""
        if fold not in self.folds:
            return set(self.plan.task)
        return survivors(self.read(f"fold-{fold}"))

    def decision_inputs(self, stage: str) -> list[str]:
        """The scores, on every earlier fold, of the configurations the decision before the previous fold kept."""
        folds = self.plan.folds
        position = folds.index(stage.removeprefix("fold-"))
        return [score_file(model, config_id, fold) for model, config_id in sorted(self.kept(folds[position - 1]))
                for fold in folds[:position]]

    def decision_kwargs(self, stage: str) -> dict:
        plan = self.plan
        return {"metric_names": list(plan.metrics), "metric": plan.selection_metric,
                "greater_is_better": plan.metrics[plan.selection_metric]["greater_is_better"],
                "alpha": self.settings["alpha"], "fold": stage.removeprefix("fold-")}

    def score_files(self, tasks: list[dict]) -> list[str]:
        """A configuration dropped from the race is fitted on no later fold, nor on every row."""
        reached = {fold: self.kept(fold) for fold in self.folds}
        reached["full"] = reached[self.folds[-1]]
        return [score_file(t["model"], t["config_id"], fold) for t in tasks for fold in self.plan.task_folds
                if fold not in reached or (t["model"], t["config_id"]) in reached[fold]]


def race_decision(*, score_files: list[str], metric_names: list[str], metric: str, greater_is_better: bool,
                  alpha: float, fold: str, out: str) -> str:
    """Decide which configurations (those whose score files are given: the ones still in the race,
    on every fold before ``fold``) go on to CV fold ``fold``; write the decision to ``out``."""
    import numpy as np
    from scipy import stats

    from ..results.aggregate import read_score_table
    from ..results.compare import compare_differences, fold_matrix, size_ratio

    scores = read_score_table(score_files, metric_names, check_identity=True).to_pandas()
    matrix = fold_matrix(scores, metric)
    ratio = size_ratio(scores)
    sign = 1 if greater_is_better else -1
    survivors, dropped, leaders = [], [], {}
    for model, rows in matrix.groupby(level="model", sort=False):
        values = sign * rows.to_numpy(dtype=float)  # oriented: greater is better
        failed = np.isnan(values).all(axis=1)
        means = np.full(len(values), -np.inf)
        means[~failed] = np.nanmean(values[~failed], axis=1)
        # The current best: the best mean of those scored on every fold so far.
        ranked = np.where(np.isnan(values).any(axis=1), -np.inf, means)
        best = int(np.argmax(ranked)) if np.isfinite(ranked).any() else None
        if best is not None:
            leaders[model] = {"config_id": rows.index[best][1], "mean": float(sign * means[best])}
        for i, (_, config_id) in enumerate(rows.index):
            entry = {"model": model, "config_id": config_id}
            if failed[i]:
                dropped.append(entry | {"reason": f"every fit failed on the {values.shape[1]} folds so far"})
                continue
            if best is None or i == best:
                survivors.append(entry)
                continue
            paired = ~np.isnan(values[i]) & ~np.isnan(values[best])
            test = compare_differences(values[i][paired] - values[best][paired], ratio)
            p_one = float(stats.t.cdf(test["t"], test["n_folds"] - 1)) if not math.isnan(test["t"]) else math.nan
            stat = {"mean": float(sign * means[i]), "mean_difference": test["mean_difference"],
                    "t": test["t"], "p_one_sided": p_one}
            if p_one < alpha:  # NaN compares False: too few paired folds to decide keeps it in the race
                dropped.append(entry | stat | {"reason": f"worse than the family's best {rows.index[best][1]} "
                                                         f"(one-sided p {p_one:.3g} < {alpha:g})"})
            else:
                survivors.append(entry | stat)
    decision = {"fold": fold, "folds_seen": [str(c) for c in matrix.columns], "metric": metric, "alpha": alpha,
                "leaders": leaders, "survivors": survivors, "dropped": dropped}
    write_json(decision, out)
    return f"fold {fold}: {len(survivors)} configurations go on, {len(dropped)} dropped"
