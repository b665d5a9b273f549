"""What a careful researcher would want to be told about a selection: a best value at the edge of
its grid, a chosen configuration whose folds disagree, metrics that disagree on the winner."""

from __future__ import annotations

import json

import pandas as pd

from .aggregate import family_params
from .formatting import format_params, format_value

# A chosen configuration's folds disagree when in some fold it ranks in the worse half of its
# family (families of at least this many configurations scored on that fold).
MIN_CONFIGURATIONS_FOR_RANKS = 4


def careful_warnings(summary: pd.DataFrame, scores: pd.DataFrame, choices: dict, metrics: dict,
                     grid_parameters: dict[str, list[str]] | None = None) -> list[dict]:
    """Warnings about a selection (``choices``: what :func:`manymodels.results.selection.choose`
    returns), each a dict with ``kind`` ('edge', 'folds', 'metrics'), ``model`` (None for the whole
    experiment) and ``message``. Edges are looked for in each family's ``grid_parameters`` (values
    drawn at random have no edge to speak of; by default, every parameter)."""
    metric = choices["selection_metric"]
    out = []
    for model, family in choices["models"].items():
        if best := family["best"].get(metric):
            names = family_params(summary, model)
            if grid_parameters is not None:
                names = [n for n in names if n in grid_parameters.get(model, [])]
            out += _edges(summary, model, best, metric, names)
        if (chosen := family["chosen"]) and metrics[metric]["on"] == "test" and "progressive" not in metrics[metric]:
            out += _disagreeing_folds(scores, model, chosen, metric, metrics[metric]["greater_is_better"])
    out += _disagreeing_metrics(choices, metrics)
    return out


def _edges(summary: pd.DataFrame, model: str, best: dict, metric: str, names: list[str]) -> list[dict]:
    """A numeric parameter whose best value is the smallest or largest of at least three tried."""
    rows = summary[summary["model"] == model]
    out = []
    for name in names:
        value = best["params"].get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        tried = sorted({v for v in (json.loads(p).get(name) for p in rows["params"])
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if len(tried) < 3 or value not in (tried[0], tried[-1]):
            continue
        end = "largest" if value == tried[-1] else "smallest"
        out.append({"kind": "edge", "model": model, "message": (
            f"{model}: the best {metric} has {name}={format_value(value)}, the {end} value tried "
            f"({format_value(tried[0])} to {format_value(tried[-1])}): the optimum may lie beyond the grid; widen it.")})
    return out


def _disagreeing_folds(scores: pd.DataFrame, model: str, chosen: dict, metric: str, greater_is_better: bool) -> list[dict]:
    """The chosen configuration ranks in the worse half of its family in some fold."""
    cv = scores[(scores["model"] == model) & (scores["fold"] != "full")].dropna(subset=[metric])
    worst = None
    for fold, rows in cv.groupby("fold", sort=False):
        if len(rows) < MIN_CONFIGURATIONS_FOR_RANKS or chosen["config_id"] not in set(rows["config_id"]):
            continue
        ranks = rows[metric].rank(ascending=not greater_is_better, method="min")
        rank = int(ranks[rows["config_id"] == chosen["config_id"]].iloc[0])
        if rank > len(rows) / 2 and (worst is None or rank / len(rows) > worst[1] / worst[2]):
            worst = (fold, rank, len(rows))
    if worst is None:
        return []
    values = cv.loc[cv["config_id"] == chosen["config_id"], metric]
    fold, rank, n = worst
    return [{"kind": "folds", "model": model, "message": (
        f"{model}: the chosen {format_params(chosen['params'])} ranks {rank} of {n} configurations on fold {fold} "
        f"(its {metric} ranges from {values.min():.4g} to {values.max():.4g} over the folds): the folds disagree, "
        "so its lead rests on some folds only.")}]


def _disagreeing_metrics(choices: dict, metrics: dict) -> list[dict]:
    """Metrics whose best family (or, with one family, best configuration) differs."""
    families = choices["models"]
    several = len(families) > 1
    picks = {}
    for metric, spec in metrics.items():
        if "progressive" in spec:
            continue
        entries = [f["best"].get(metric) for f in families.values()]
        entries = [e for e in entries if e]
        if not entries:
            continue
        sign = 1 if spec["greater_is_better"] else -1
        top = max(entries, key=lambda e: sign * e["value"])
        picks[metric] = top["model"] if several else format_params(top["params"])
    if len(set(picks.values())) < 2:
        return []
    what = "families" if several else "configurations"
    said = "; ".join(f"{metric} picks {pick}" for metric, pick in picks.items())
    return [{"kind": "metrics", "model": None, "message": (
        f"The metrics rank the {what} differently ({said}): which one wins depends on what you measure.")}]

