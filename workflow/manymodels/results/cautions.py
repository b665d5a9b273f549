"""What a careful researcher would want to be told about a selection: a best value at the edge of
its grid, a chosen configuration whose folds disagree, metrics that disagree on the winner, a winner
tied with other configurations (and how the tie was broken), and a pick whose fits are degenerate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .aggregate import family_params, metric_value_column
from .formatting import format_params, format_value

# A chosen configuration's folds disagree when in some fold it ranks in the worse half of its
# family (families of at least this many configurations scored on that fold).
MIN_CONFIGURATIONS_FOR_RANKS = 4


def careful_warnings(summary: pd.DataFrame, scores: pd.DataFrame, choices: dict, metrics: dict,
                     grid_parameters: dict[str, list[str]] | None = None) -> list[dict]:
    """Warnings about a selection (``choices``: what :func:`manymodels.results.selection.choose`
    returns), each a dict with ``kind`` ('edge', 'folds', 'metrics', 'tie', 'degenerate'), ``model``
    (None for the whole experiment) and ``message``. Edges are looked for in each family's
    ``grid_parameters`` (values drawn at random have no edge to speak of; by default, every
    parameter)."""
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
    out += _disagreeing_metrics(summary, choices, metrics)
    out += _ties(summary, scores, choices, metrics)
    out += _degenerate_picks(scores, choices, metrics)
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


# Two scores this close are the same number (the same partition or predictions give bit-identical
# scores; arithmetic in another order may differ in the last bits).
TIE_TOLERANCE = 1e-12


def _same(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=TIE_TOLERANCE, atol=TIE_TOLERANCE))


def _equal_where_both(a, b) -> bool:
    """The same score where both have one (a clusterer without predict has no out-of-sample score)."""
    return pd.isna(a) or pd.isna(b) or _same(a, b)


def _top(summary: pd.DataFrame, metric: str, spec: dict) -> pd.DataFrame:
    """The configurations with the best value of ``metric`` (several on a tie), in table order."""
    column = metric_value_column(metric, spec)
    ranked = summary.dropna(subset=[column])
    if ranked.empty:
        return ranked
    best = ranked[column].max() if spec["greater_is_better"] else ranked[column].min()
    return ranked[[_same(v, best) for v in ranked[column]]]


def _name(row) -> str:
    return f"{row['model']} {format_params(json.loads(row['params']))}"


def _disagreeing_metrics(summary: pd.DataFrame, choices: dict, metrics: dict) -> list[dict]:
    """Metrics whose best configurations (all of them, on a tie) have none in common: which one wins
    depends on what is measured. Compared by configuration, in-sample metrics included."""
    picks, tops = {}, {}
    for metric, spec in metrics.items():
        if "progressive" in spec:
            continue
        top = _top(summary, metric, spec)
        if top.empty:
            continue
        tops[metric] = set(zip(top["model"], top["config_id"]))
        first = top.iloc[0]
        picks[metric] = _name(first) + (f" (tied with {len(top) - 1} more)" if len(top) > 1 else "")
    if len(tops) < 2 or set.intersection(*tops.values()):
        return []
    said = "; ".join(f"{metric} picks {pick}" for metric, pick in picks.items())
    return [{"kind": "metrics", "model": None, "message": (
        f"The metrics pick different configurations ({said}): which one wins depends on what you measure.")}]


def _ties(summary: pd.DataFrame, scores: pd.DataFrame, choices: dict, metrics: dict) -> list[dict]:
    """The overall winner tied with other configurations: the same value of the selection metric
    (on every CV fold, for an out-of-sample metric), said with how the tie was broken."""
    winner, metric = choices.get("overall"), choices["selection_metric"]
    if not winner:
        return []
    spec = metrics[metric]
    column = metric_value_column(metric, spec)
    row = summary[(summary["model"] == winner["model"]) & (summary["config_id"] == winner["config_id"])]
    if row.empty or pd.isna(row[column].iloc[0]):
        return []
    value = row[column].iloc[0]
    tied = summary[[_same(v, value) for v in summary[column].fillna(np.inf)]]
    if spec["on"] == "test" and len(tied) > 1:  # the same mean is not a tie unless every fold agrees
        folds = scores[scores["fold"] != "full"].pivot_table(index=["model", "config_id"], columns="fold",
                                                              values=metric, aggfunc="first")
        mine = folds.loc[(winner["model"], winner["config_id"])].to_numpy(dtype=float)
        tied = tied[[np.allclose(folds.loc[key].to_numpy(dtype=float), mine, rtol=TIE_TOLERANCE,
                                 atol=TIE_TOLERANCE, equal_nan=True) if key in folds.index else False
                     for key in zip(tied["model"], tied["config_id"])]]
    others = tied[[key != (winner["model"], winner["config_id"]) for key in zip(tied["model"], tied["config_id"])]]
    if others.empty:
        return []
    others_text = "; ".join(_name(r) for _, r in others.head(6).iterrows()) + ("; ..." if len(others) > 6 else "")
    columns = [metric_value_column(m, sp) for m, sp in metrics.items() if "progressive" not in sp]
    alike = (" They score the same on every metric they have: most likely the same partition (or the same "
             "predictions)." if len(columns) > 1 and all(_equal_where_both(row[c].iloc[0], v) for c in columns
                                                         for v in others[c]) else "")
    how = _tie_breaker(choices, winner, others)
    return [{"kind": "tie", "model": None, "message": (
        f"The winner {_name(row.iloc[0])} is tied on {column} ({format_value(float(value))}"
        f"{', on every CV fold' if spec['on'] == 'test' else ''}) with {len(others)} other configuration"
        f"{'s' if len(others) != 1 else ''}: {others_text}.{alike} The tie was broken {how}.")}]


def _tie_breaker(choices: dict, winner: dict, others: pd.DataFrame) -> str:
    """How the selection ordered tied configurations."""
    family = choices["models"].get(winner["model"], {})
    simplest = family.get("simplest_by") or []
    same_family = others[others["model"] == winner["model"]]
    if simplest and len(same_family) and family.get("rule") in ("equivalent", "one_se"):
        return f"by selection.simplest (the fewest {', '.join(simplest)}), then by their order in the config"
    if len(same_family) < len(others):
        return "by the order of the model families in the config (the first family listed wins)"
    return "by the order of the configurations in the config's grid"


def _degenerate_picks(scores: pd.DataFrame, choices: dict, metrics: dict) -> list[dict]:
    """A configuration picked by some metric (the best by it, or the chosen one) whose fits are
    degenerate (``degenerate`` in the score rows: more parameters than rows, collapsed components,
    no convergence): the metric may reward the degeneracy rather than structure."""
    if "degenerate" not in scores:
        return []
    picked: dict[tuple, list[str]] = {}
    for model, family in choices["models"].items():
        for metric, best in family["best"].items():
            if best:
                picked.setdefault((best["model"], best["config_id"]), []).append(f"{metric} picks it")
        if family.get("chosen"):
            picked.setdefault((model, family["chosen"]["config_id"]), []).append("chosen")
    out = []
    for (model, config_id), why in picked.items():
        rows = scores[(scores["model"] == model) & (scores["config_id"] == config_id)]
        bad = rows.dropna(subset=["degenerate"])
        if bad.empty:
            continue
        params = format_params(json.loads(rows["params"].iloc[0])) if "params" in rows else config_id
        folds = ", ".join(f"fold {f}" for f in bad["fold"])
        out.append({"kind": "degenerate", "model": model, "message": (
            f"{model} {params} ({', '.join(dict.fromkeys(why))}) is degenerate on {len(bad)} of its {len(rows)} fits "
            f"({folds}): {bad['degenerate'].iloc[0]}. A criterion can reward such a fit (a collapsed component has "
            "unbounded likelihood) rather than structure in the data: do not trust this pick as it is.")})
    return out
