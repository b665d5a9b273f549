"""Plots of a staged search: the race of fold racing and successive halving (their decisions are
:mod:`manymodels.search.racing` and :mod:`manymodels.search.halving`), the trials of Bayesian
optimisation (:mod:`manymodels.search.optuna`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..task.io import read_json
from .compare import fold_matrix
from .stages import stage_function, stage_outcome


def plot_race(*, scores: str, summary: str, selection: str, decisions: list[str], metric: str, spec: dict,
              out: str) -> None:
    """The race, a panel per family and a line per configuration: under fold racing its mean score
    over the CV folds seen so far, under successive halving its mean CV score at each rung; those
    dropped stop where they were dropped, greyed; the chosen configuration is drawn on top."""
    from .formatting import format_params
    from .plots import _figure, _save, _wrap

    decided = [read_json(p) for p in decisions]
    if draw := stage_function(decided, "plot"):  # a search that draws its own
        return draw(decided, summary=summary, selection=selection, metric=metric, spec=spec, out=out)
    halving = bool(decided) and "rung" in decided[0]
    lines, xlabels = (_rung_lines(decided, pd.read_parquet(summary), metric) if halving
                      else _fold_lines(pd.read_parquet(scores, columns=["model", "config_id", "fold", metric]), metric))
    outcome = stage_outcome(list(decisions)).set_index(["model", "config_id"])
    choices = read_json(selection)
    families = list(dict.fromkeys(model for model, _ in lines))
    fig = _figure(8, 3.2 * len(families) + 1.2)
    axes = fig.subplots(len(families), 1, squeeze=False)[:, 0]
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    for ax, family in zip(axes, families):
        chosen = (choices["models"].get(family, {}).get("chosen") or {}).get("config_id")
        own = {cid: xy for (model, cid), xy in lines.items() if model == family}
        n_dropped = sum((family, cid) in outcome.index for cid in own)
        total = (sum(e["model"] == family for e in decided[0]["survivors"] + decided[0]["dropped"]) if halving
                 else len(own))
        for config_id, (xs, ys) in own.items():
            if (family, config_id) in outcome.index:
                ax.plot(xs, ys, color="0.75", linewidth=0.8, zorder=1)
            elif config_id != chosen:
                ax.plot(xs, ys, color="C0", linewidth=1.2, alpha=0.8, zorder=2)
        if chosen in own:
            entry = choices["models"][family]["chosen"]
            ax.plot(*own[chosen], color="C3", linewidth=2.2, marker="o", zorder=3,
                    label=f"chosen: {format_params(entry['params'])}")
        ax.plot([], [], color="C0", label=f"went to the end ({len(own) - n_dropped})")
        ax.plot([], [], color="0.75", label=f"dropped ({n_dropped + total - len(own)})")
        ax.set_xticks(range(1, len(xlabels) + 1), xlabels)
        ax.set_xlabel("rung (share of each fold's training rows, or the resource parameter)" if halving
                      else "CV folds seen")
        ax.set_ylabel(f"mean CV {metric}" + (" at the rung" if halving else " so far") + f"\n({direction})")
        unscored = f" ({total - len(own)} with no score at any stage: every fit failed, not drawn)" if total > len(own) else ""
        ax.set_title(_wrap(f"{family}: {total} configurations{unscored}", 8, 11), fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    what = ("Successive halving on {m}: after each rung the best 1/{f} of each family go on with {f} times the "
            "resource (grey lines stop where a configuration was dropped)" if halving else
            "Fold racing on {m}: after the burn-in, each decision drops the configurations significantly worse than "
            "their family's best so far (grey lines stop there)")
    fig.suptitle(_wrap(what.format(m=metric, f=decided[0].get("factor") if decided else ""), 8))
    _save(fig, out)


def _fold_lines(table: pd.DataFrame, metric: str):
    """Fold racing: each configuration's running mean over the CV folds it was scored on."""
    table = table[table["fold"].str.isdigit()]
    lines = {}
    matrix = fold_matrix(table, metric)
    for key, values in matrix.iterrows():
        running = values.expanding().mean().to_numpy(dtype=float)
        keep = ~np.isnan(values.to_numpy(dtype=float))
        lines[key] = (np.arange(1, len(running) + 1)[keep], running[keep])
    return lines, [str(k) for k in range(1, matrix.shape[1] + 1)]


def _rung_lines(decisions: list[dict], summary: pd.DataFrame, metric: str):
    """Successive halving: each configuration's mean CV score at every rung it was fitted at (the
    last rung's from the summary)."""
    points: dict = {}
    for decision in decisions:
        for entry in decision["survivors"] + decision["dropped"]:
            if entry["mean"] is not None:
                points.setdefault((entry["model"], entry["config_id"]), []).append((decision["rung"] + 1, entry["mean"]))
    last = len(decisions) + 1
    finished = summary[summary["stopped_at"].isna()] if "stopped_at" in summary else summary
    for row in finished.itertuples():
        value = getattr(row, f"{metric}_mean")
        if not pd.isna(value):
            points.setdefault((row.model, row.config_id), []).append((last, value))
    labels = [d["describe"].replace(" of the training rows", "") for d in decisions] + ["full"]
    return {key: (np.array([x for x, _ in xy]), np.array([y for _, y in xy])) for key, xy in points.items()}, labels

