"""Selection plots: a metric against one hyperparameter, one line per combination of the others."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..task.io import atomic_path, load_checked_model, read_json
from .aggregate import family_params, metric_value_column, param_columns, uncomputed_metrics
from .formatting import format_value


def x_parameter(summary: pd.DataFrame, preferred: str | None = None, params: list[str] | None = None) -> str:
    """The x-axis parameter: the configured one, else the first numeric one, else the first one."""
    params = param_columns(summary) if params is None else params
    if not params:
        raise ValueError("the summary has no hyperparameter columns to plot against")
    if preferred is not None:
        if preferred not in params:
            raise ValueError(f"plot.x: '{preferred}' is not a grid parameter ({', '.join(params)})")
        return preferred
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(summary[p]) and summary[p].notna().any()]
    return (numeric or params)[0]


def _plottable(column: pd.Series):
    """Values matplotlib can place: floats for numbers (missing as NaN), text for anything else."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan)
    return column.map(lambda v: format_value(v.tolist() if isinstance(v, np.ndarray) else v)).to_numpy()


def plot_metric(*, summary: str, model: str, metric: str, spec: dict, x: str | None, out: str,
                scores: str | None = None) -> None:
    """Plot one metric of one model family against a hyperparameter and save a PNG (or, when
    there is nothing to draw, a figure that says why: ``scores`` gives the reason)."""
    table = pd.read_parquet(summary)
    params = family_params(table, model)
    table = table[table["model"] == model].copy()
    for column in params:  # list-valued parameters (e.g. feature subsets) as labels
        if table[column].map(lambda v: isinstance(v, (list, np.ndarray))).any():
            table[column] = table[column].map(lambda v: format_value(list(v)) if v is not None else v)
    column = metric_value_column(metric, spec)
    in_sample = spec["on"] == "train"
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    fig = _figure()
    ax = fig.subplots()
    if not params or table[column].isna().all():
        if not params:
            why = "the family has no hyperparameters to plot against."
        elif reason := _uncomputed_reason(scores, model, metric, spec):
            why = f"{metric} could not be computed for this family: {reason}."
        else:
            why = "no configuration has a value (every fit failed; see the failures in the report)."
        _say(ax, f"{model}: {metric}", f"Nothing to plot: {why}")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        return
    x = x_parameter(table, x, params)
    # One line per combination of the parameters that vary (constant ones would only clutter the legend).
    others = [p for p in params if p != x and table[p].nunique(dropna=True) > 1]
    groups = table.groupby(others, dropna=False, sort=True) if others else [((), table)]
    for key, rows in groups:
        rows = rows.sort_values(x)
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(format_value(v) if len(others) == 1 else f"{p}={format_value(v)}"
                          for p, v in zip(others, key)) or metric
        yerr = None if in_sample else rows[f"{metric}_sem"].to_numpy(dtype=float, na_value=np.nan)
        ax.errorbar(_plottable(rows[x]), rows[column].to_numpy(dtype=float, na_value=np.nan), yerr=yerr, marker="o",
                    markersize=3, capsize=2, label=label)
    if in_sample:
        where = "in-sample, fit on all rows"
    elif "progressive" in spec:
        where = "progressive validation"
    else:
        where = "mean over CV folds, bars: standard error"
    values = pd.to_numeric(table[x], errors="coerce")
    if values.notna().all() and (values > 0).all() and values.max() / values.min() >= 100:
        ax.set_xscale("log")  # a range over decades, such as a regularisation strength
    ax.set_title(f"{model}: {metric} vs {x} ({where})")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} ({direction})")
    ax.grid(alpha=0.3)
    if len(ax.get_legend_handles_labels()[0]) > 1:
        ax.legend(fontsize="small", title=", ".join(others) or None)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def _uncomputed_reason(scores: str | None, model: str, metric: str, spec: dict) -> str | None:
    if scores is None:
        return None
    table = pd.read_parquet(scores, columns=["model", "fold", "status", "score_error", metric])
    missing = uncomputed_metrics(table[table["model"] == model], {metric: spec})
    return missing["reason"].iloc[0] if len(missing) else None


def _say(ax, title: str, message: str) -> None:
    """A figure that explains why there is nothing to draw, instead of empty axes."""
    import textwrap

    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(message, 60)), ha="center", va="center", transform=ax.transAxes)


def _figure(width: float = 7, height: float = 4.5):
    """A figure of the object-oriented API without pyplot: no global state, and a lighter import."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# Boxes per family in the CV score plot: past a few dozen the configuration labels are unreadable.
MAX_BOXES_PER_FAMILY = 40


def plot_cv_scores(*, scores: str, metric: str, spec: dict, out: str) -> None:
    """Box plots of the CV scores of each family's best configurations (by median), grouped and
    coloured by model family."""
    table = pd.read_parquet(scores, columns=["model", "config_id", "fold", metric])
    cv = table[table["fold"] != "full"].dropna(subset=[metric])
    sign = 1 if spec["greater_is_better"] else -1
    boxes, labels, colours, families = [], [], [], list(dict.fromkeys(cv["model"]))
    total = 0
    for i, family in enumerate(families):
        per_config = dict(list(cv[cv["model"] == family].groupby("config_id")[metric]))
        order = sorted(per_config, key=lambda cid: (-sign * per_config[cid].median(), cid))
        total += len(order)
        for config_id in order[:MAX_BOXES_PER_FAMILY]:
            boxes.append(per_config[config_id].to_numpy())
            labels.append(config_id[:6])
            colours.append(f"C{i % 10}")
    shown = len(boxes)
    fig = _figure(max(7, 0.18 * len(boxes) + 2), 4.5)
    ax = fig.subplots()
    if boxes:
        parts = ax.boxplot(boxes, patch_artist=True, widths=0.6)
        for patch, colour in zip(parts["boxes"], colours):
            patch.set_facecolor(colour)
            patch.set_alpha(0.6)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=90, fontsize=6)
        for i, family in enumerate(families):
            ax.plot([], [], color=f"C{i % 10}", linewidth=8, alpha=0.6, label=family)
        ax.legend(fontsize="small", title="model family")
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    which = "every configuration" if shown == total else (
        f"the best {MAX_BOXES_PER_FAMILY} configurations of each family ({shown} of {total})")
    if not boxes:
        _say(ax, f"CV {metric}", "Nothing to plot: no configuration has a CV score (every fit failed; see the "
                                 "failures in the report).")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        return
    ax.set_title(f"CV {metric} of {which}, best first within each family")
    ax.set_xlabel("configuration (config_id)")
    ax.set_ylabel(f"{metric} over CV folds ({direction})")
    ax.grid(alpha=0.3, axis="y")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def plot_test_predictions(*, selection: str, model_file: str | None, model_meta: str | None, data: str,
                          holdout: str, features: list[str], label: str, out: str) -> str:
    """The overall winner (``model_file``: fitted on every training row) on the held-out set: a
    confusion matrix (classes) or predicted vs true (numbers)."""
    winner = read_json(selection)["overall"]
    if not winner:
        fig = _figure(6, 5)
        _say(fig.subplots(), "Held-out test set", "No winner to test: every fit of every family failed (see the "
                                                  "failures in the report).")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        return "no winner: every fit failed"
    model = load_checked_model(model_file, model_meta)
    frame = pd.read_parquet(data)
    test = pd.read_parquet(holdout)["holdout"].to_numpy()
    y_true, y_pred = frame[label].to_numpy()[test], model.predict(frame.loc[test, features])
    fig = _figure(6, 5)
    ax = fig.subplots()
    name = f"{winner['model']} {winner['config_id']}"
    if pd.api.types.is_float_dtype(frame[label]):
        ax.scatter(y_true, y_pred, s=12, alpha=0.7)
        low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
        ax.plot([low, high], [low, high], color="grey", linestyle="--", label="predicted = true")
        ax.legend(fontsize="small")
        ax.set_xlabel(f"true {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.set_title(f"Held-out test set: {name}")
    else:
        classes = np.unique(np.concatenate([y_true, y_pred]))
        counts = np.array([[np.sum((y_true == t) & (y_pred == p)) for p in classes] for t in classes])
        image = ax.imshow(counts, cmap="Blues")
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > counts.max() / 2 else "black")
        ax.set_xticks(range(len(classes)), [str(c) for c in classes])
        ax.set_yticks(range(len(classes)), [str(c) for c in classes])
        ax.set_xlabel(f"predicted {label}")
        ax.set_ylabel(f"true {label}")
        ax.set_title(f"Held-out test set: {name}")
        fig.colorbar(image, ax=ax, label="test rows")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return f"{len(y_true)} held-out rows, winner {name}"
