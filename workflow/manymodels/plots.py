"""Selection plots: a metric against one hyperparameter, one line per combination of the others."""

from __future__ import annotations

import pandas as pd

from .aggregate import metric_value_column, param_columns
from .io import atomic_path


def x_parameter(summary: pd.DataFrame, preferred: str | None = None) -> str:
    """The x-axis parameter: the configured one, else the first numeric one, else the first one."""
    params = param_columns(summary)
    if not params:
        raise ValueError("the summary has no hyperparameter columns to plot against")
    if preferred is not None:
        if preferred not in params:
            raise ValueError(f"plot.x: '{preferred}' is not a grid parameter ({', '.join(params)})")
        return preferred
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(summary[p]) and summary[p].notna().any()]
    return (numeric or params)[0]


def plot_metric(*, summary: str, model: str, metric: str, spec: dict, x: str | None, out: str) -> None:
    """Plot one metric of one model family against a hyperparameter and save a PNG."""
    # The object-oriented API without pyplot: no global figure state, and a lighter import.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = pd.read_parquet(summary)
    table = table[table["model"] == model]
    x = x_parameter(table, x)
    others = [p for p in param_columns(table) if p != x and table[p].notna().any()]
    column = metric_value_column(metric, spec)
    in_sample = spec["on"] == "train"
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    groups = table.groupby(others, dropna=False, sort=True) if others else [((), table)]
    for key, rows in groups:
        rows = rows.sort_values(x)
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(str(v) if len(others) == 1 else f"{p}={v}" for p, v in zip(others, key)) or metric
        yerr = None if in_sample else rows[f"{metric}_sem"]
        ax.errorbar(rows[x].astype(str) if not pd.api.types.is_numeric_dtype(rows[x]) else rows[x],
                    rows[column], yerr=yerr, marker="o", markersize=3, capsize=2, label=label)
    where = "in-sample, fit on all rows" if in_sample else "mean over CV folds, bars: standard error"
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    ax.set_title(f"{model}: {metric} vs {x} ({where})")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} ({direction})")
    ax.grid(alpha=0.3)
    if len(ax.get_legend_handles_labels()[0]) > 1:
        ax.legend(fontsize="small", title=", ".join(others) or None)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
