"""Selection plots: a metric against one hyperparameter (one line per combination of the others),
the CV scores of every configuration, each family's choice against the best overall, and the winner
on the held-out set. Configurations are labelled by their parameters, never by their ids; the chosen
ones and those practically equivalent to their family's best are marked."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pandas as pd

from ..task.io import atomic_path, read_json
from ..task.model_files import load_checked_model
from .aggregate import family_params, metric_value_column, param_columns, uncomputed_metrics
from .compare import fold_matrix
from .formatting import SE_SUFFIX, format_value

# A line must fill at least this share of the height of the panel it is drawn in; lines that would
# not (BIC of spherical covariances, thousands above the others) get a panel of their own.
PANEL_FILL = 0.1
# Past this many panels a figure is a wall of small plots: the lines then share one axis again.
MAX_PANELS = 6
# Past this many lines, a legend naming each would cover the figure: the title says what they are.
MAX_LEGEND_LINES = 12
# The families figure of a single family: its best few configurations against its best.
TOP_CONFIGURATIONS = 8
# The posterior interval of a mean difference in the families figure.
INTERVAL = 0.95

_EQUIVALENT = {"marker": "s", "markersize": 13, "markerfacecolor": "none", "markeredgecolor": "black",
               "markeredgewidth": 1.3, "linestyle": "none"}
_CHOSEN = {"marker": "*", "markersize": 15, "markerfacecolor": "gold", "markeredgecolor": "black",
           "markeredgewidth": 0.8, "linestyle": "none"}


def _compact(value) -> str:
    """A parameter value, short: floats to three significant digits (0.0438, not 0.0437829)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return f"{value:.3g}"
    return format_value(value)


def short_names(names: list[str]) -> dict[str, str]:
    """Parameter names without their pipeline step (``clf__C`` as ``C``) when they stay distinct."""
    short = {name: name.rsplit("__", 1)[-1] for name in names}
    return short if len(set(short.values())) == len(short) else {name: name for name in names}


def params_text(params: dict) -> str:
    """``C=0.1, gamma=scale``: a configuration's parameters, short names, compact values."""
    short = short_names(list(params))
    return ", ".join(f"{short[name]}={_compact(value)}" for name, value in params.items()) or "(no parameters)"


def config_labels(table: pd.DataFrame, model: str) -> tuple[dict[str, str], list[str]]:
    """Each configuration of ``model`` in ``table`` (a summary or score table) labelled by the values
    of the family's parameters that vary (``3, full``; ``C=0.01`` when one varies), and the (short)
    names of those parameters in the order the labels give them."""
    rows = table.loc[table["model"] == model, ["config_id", "params"]].drop_duplicates("config_id")
    params = {cid: json.loads(text) for cid, text in zip(rows["config_id"], rows["params"])}
    names = family_params(table, model)
    varying = [n for n in names if len({json.dumps(p.get(n), sort_keys=True) for p in params.values()}) > 1] or names
    short = short_names(varying)
    for write in (_compact, format_value):  # more digits when three do not tell two configurations apart
        labels = {cid: ", ".join(write(p.get(n)) for n in varying) for cid, p in params.items()}
        if len(varying) == 1:
            labels = {cid: f"{short[varying[0]]}={label}" for cid, label in labels.items()}
        if len(set(labels.values())) == len(labels):
            break
    else:
        labels = {cid: f"{label} ({cid[:6]})" for cid, label in labels.items()}
    return {cid: label or "(no parameters)" for cid, label in labels.items()}, [short[n] for n in varying]


def selection_marks(selection: str | None, comparisons: str | None) -> dict:
    """What the selection plots mark, from selection.json and comparisons.parquet: ``chosen``, each
    family's chosen (model, config_id); ``equivalent``, those practically equivalent to their family's
    best (the best included); and the legend text of each mark."""
    choices = read_json(selection) if selection else {}
    chosen = {(c["model"], c["config_id"]) for f in choices.get("models", {}).values() if (c := f.get("chosen"))}
    equivalent = set()
    if comparisons:
        table = pd.read_parquet(comparisons, columns=["model", "config_id", "scope", "equivalent"])
        rows = table[(table["scope"] == "family") & table["equivalent"].astype(bool)]
        equivalent = set(zip(rows["model"], rows["config_id"]))
    metric, rope, rule = choices.get("selection_metric"), choices.get("rope") or 0, choices.get("rule")
    if rope:
        same = (f"practically equivalent to the family's best by {metric}: "
                f"P(within ±{rope:g} of it, or better) ≥ {choices.get('credibility', 0.95):g}")
    else:
        same = f"the family's best by {metric}, or tied with it on every fold (no selection.rope set)"
    return {"chosen": chosen, "equivalent": equivalent, "equivalent_label": same,
            "chosen_label": "chosen configuration" + (f" (selection rule: {rule})" if rule else "")}


# What the plots say about the configurations a staged search stopped early.
STOPPED_NOTE = ("{n} configurations stopped early by the search are not drawn: their scores are from less of the "
                "resource or fewer folds (plots/race.png shows them)")


def finishers(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A summary or score table split into the configurations that reached a staged search's last
    stage and those stopped earlier (none without racing or halving): only the first are ranked
    and plotted together."""
    if "stopped_at" not in table:
        return table, table.iloc[:0]
    stopped = table["stopped_at"].notna()
    return table[~stopped], table[stopped]


def _mark_handles(marks: dict, keys) -> list:
    """Legend entries of the marks that ``keys`` (the plotted configurations) carry."""
    from matplotlib.lines import Line2D

    keys = set(keys)
    return [Line2D([], [], **style, label=_wrap(marks[f"{kind}_label"], 3.2, 9))
            for kind, style in (("chosen", _CHOSEN), ("equivalent", _EQUIVALENT)) if keys & marks[kind]]


def _mark(ax, xs, ys, keys: list, marks: dict, **options) -> None:
    for kind, style in (("equivalent", _EQUIVALENT), ("chosen", _CHOSEN)):
        hit = np.array([key in marks[kind] for key in keys], dtype=bool)
        if hit.any():
            ax.plot(np.asarray(xs, dtype=float)[hit], np.asarray(ys, dtype=float)[hit], **style, zorder=4, **options)


def panel_groups(spans: list[tuple[float, float]], *, fill: float = PANEL_FILL) -> list[list[int]]:
    """Which lines share a y axis, given each line's (lowest, highest) value (error bars included).

    Lines are taken from the highest down; a line joins the current panel while every line there
    (itself included) still spans at least ``fill`` of the panel's height, otherwise it starts the
    next panel. Lines on scales orders of magnitude apart so get panels of their own, each with its
    own y range, instead of one line squeezing the others flat; a flat line (one value) squeezes
    nothing. One group means one plain axis.
    """
    order = sorted(range(len(spans)), key=lambda i: (-spans[i][1], -spans[i][0], i))
    groups: list[list[int]] = []
    for i in order:
        if groups:
            members = groups[-1] + [i]
            height = max(spans[j][1] for j in members) - min(spans[j][0] for j in members)
            if all(spans[j][1] - spans[j][0] >= fill * height or spans[j][1] == spans[j][0] for j in members):
                groups[-1].append(i)
                continue
        groups.append([i])
    return [sorted(group) for group in groups]


def _x_positions(column: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Where each row sits on the x axis: at its value when every row has a number; otherwise each
    distinct value at 0, 1, ... (numbers ascending, then text, missing last as 'null'), with those
    tick labels, so that no configuration drops off the plot."""
    if (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            and column.notna().all()):
        return column.to_numpy(dtype=float), None
    texts, keys = [], {}
    for value in column.astype(object):
        value = value.item() if isinstance(value, np.generic) else value
        missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and not missing
        text = "null" if missing else _compact(value)
        keys[text] = (missing, not number, float(value) if number else 0.0, text)
        texts.append(text)
    order = sorted(keys, key=keys.get)
    return np.array([order.index(t) for t in texts], dtype=float), order


def _x_axis(ax, positions: pd.Series, ticks: list[str] | None, *, integers: bool) -> None:
    """Category ticks, or a log scale for numbers over decades, or whole numbers for integers."""
    if ticks is not None:
        slanted = max(map(len, ticks)) > 6
        ax.set_xticks(range(len(ticks)), ticks, rotation=30 if slanted else 0, ha="right" if slanted else "center")
        return
    if (positions > 0).all() and positions.max() / positions.min() >= 100:
        ax.set_xscale("log")  # a range over decades, such as a regularisation strength
    elif integers:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _plain_numbers(ax.xaxis)


def _plain_numbers(axis) -> None:
    """Tick labels as plain numbers: no offset or exponent that hides BIC 10523 against 10561."""
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    if axis.get_scale() == "log":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    elif isinstance(axis.get_major_formatter(), ScalarFormatter):
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        axis.set_major_formatter(formatter)


def _wrap(text: str, width: float, fontsize: float = 12) -> str:
    """``text`` in lines that fit ``width`` inches at ``fontsize`` points (a title is never cut)."""
    chars = max(20, int(width * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(part, chars) for part in text.split("\n"))


def _save(fig, out: str) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


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


def plot_metric(*, summary: str, model: str, metric: str, spec: dict, x: str | None, out: str,
                scores: str | None = None, selection: str | None = None, comparisons: str | None = None) -> None:
    """Plot one metric of one model family against a hyperparameter and save a PNG (or, when
    there is nothing to draw, a figure that says why: ``scores`` gives the reason). The chosen
    configuration (``selection``) and those practically equivalent to the family's best
    (``comparisons``) are marked; lines on scales far apart get panels of their own (:func:`panel_groups`;
    past MAX_PANELS panels they share one axis again)."""
    from matplotlib.transforms import offset_copy

    table, n_stopped = finishers(pd.read_parquet(summary))
    params = family_params(table, model)
    n_stopped = int((n_stopped["model"] == model).sum())
    table = table[table["model"] == model].copy()
    for column in params:  # list-valued parameters (e.g. feature subsets) as labels
        if table[column].map(lambda v: isinstance(v, (list, np.ndarray))).any():
            table[column] = table[column].map(lambda v: format_value(list(v)) if v is not None else v)
    column = metric_value_column(metric, spec)
    in_sample = spec["on"] == "train"
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    if not params or table[column].isna().all():
        if not params:
            why = "the family has no hyperparameters to plot against."
        elif reason := _uncomputed_reason(scores, model, metric, spec):
            why = f"{metric} could not be computed for this family: {reason}."
        else:
            why = "no configuration has a value (every fit failed; see the failures in the report)."
        fig = _figure()
        _say(fig.subplots(), f"{model}: {metric}", f"Nothing to plot: {why}")
        _save(fig, out)
        return
    x = x_parameter(table, x, params)
    table["_x"], ticks = _x_positions(table[x])
    # One line per combination of the parameters that vary (constant ones would only clutter the legend).
    others = [p for p in params if p != x and table[p].nunique(dropna=True) > 1]
    short = short_names(others)
    lines = []
    for key, rows in (table.groupby(others, dropna=False, sort=True) if others else [((), table)]):
        rows = rows.sort_values("_x")
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{short[p]}={_compact(v)}" for p, v in zip(others, key)) or metric
        y = rows[column].to_numpy(dtype=float, na_value=np.nan)
        err = np.zeros_like(y) if in_sample else rows[f"{metric}{SE_SUFFIX}"].to_numpy(dtype=float, na_value=np.nan)
        err = np.where(np.isfinite(err), err, 0.0)  # no standard error (one fold, or one stream): no bar
        lines.append((label, rows, y, err))
    drawn = [i for i, (_, _, y, _) in enumerate(lines) if np.isfinite(y).any()]
    spans = [(np.nanmin(y - np.nan_to_num(err)), np.nanmax(y + np.nan_to_num(err))) for _, _, y, err in
             (lines[i] for i in drawn)]
    panels = [[drawn[j] for j in group] for group in panel_groups(spans)]
    if len(panels) > MAX_PANELS:
        panels = [sorted(drawn)]
    panels[0] += [i for i in range(len(lines)) if i not in drawn]  # lines without a value: legend only
    fig = _figure(7, 4.8 if len(panels) == 1 else 1.6 + 2.1 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    marks = selection_marks(selection, comparisons)
    for ax, members in zip(axes, panels):
        for k, i in enumerate(sorted(members)):
            label, rows, y, err = lines[i]
            # Lines side by side by a few points, so that error bars at the same x do not hide each other.
            dodge = offset_copy(ax.transData, fig=fig, units="points",
                                x=0 if in_sample else (k - (len(members) - 1) / 2) * min(4.0, 16 / len(members)))
            ax.errorbar(rows["_x"].to_numpy(), y, yerr=None if in_sample else err, marker="o", markersize=3,
                        capsize=2, label=label, color=f"C{i % 10}", transform=dodge)
            _mark(ax, rows["_x"], y, list(zip(rows["model"], rows["config_id"])), marks, transform=dodge)
            ax.update_datalim([(px, py) for px, py in zip(np.tile(rows["_x"].to_numpy(dtype=float), 2),
                                                          np.concatenate([y - err, y + err])) if np.isfinite(py)])
        ax.autoscale_view()
        _plain_numbers(ax.yaxis)
        ax.grid(alpha=0.3)
    ax = axes[-1]
    _x_axis(ax, table["_x"], ticks, integers=pd.api.types.is_integer_dtype(table[x]))
    ax.set_xlabel(x)
    if in_sample:
        where = "in-sample: each configuration fitted on all rows"
    elif "progressive" in spec:
        where = "progressive validation: one pass over the stream, so no error bars"
    else:
        where = ("mean over CV folds, error bars ± corrected standard error (Nadeau and Bengio: the folds share "
                 "training rows)")
    title = f"{model}: {metric} vs {x}\n{where}"
    if n_stopped:
        title += f"\n{STOPPED_NOTE.format(n=n_stopped)}"
    if len(lines) > MAX_LEGEND_LINES:  # a legend of dozens of lines would hide the plot
        title += f"\none line per combination of {', '.join(others)} ({len(lines)} lines)"
    if len(panels) > 1:
        title += "\nlines on far-apart scales: separate panels, each with its own y range"
        fig.suptitle(_wrap(title, 7))
        fig.supylabel(f"{metric} ({direction})")
    else:
        ax.set_title(_wrap(title, 7))
        ax.set_ylabel(f"{metric} ({direction})")
    handles = [h for a in axes for h in a.get_legend_handles_labels()[0]] if 1 < len(lines) <= MAX_LEGEND_LINES else []
    handles += _mark_handles(marks, zip(table["model"], table["config_id"]))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 2), fontsize="small")
    _save(fig, out)


def _uncomputed_reason(scores: str | None, model: str, metric: str, spec: dict) -> str | None:
    if scores is None:
        return None
    table = pd.read_parquet(scores, columns=["model", "fold", "status", "score_error", metric])
    missing = uncomputed_metrics(table[table["model"] == model], {metric: spec})
    return missing["reason"].iloc[0] if len(missing) else None


def _say(ax, title: str, message: str) -> None:
    """A figure that explains why there is nothing to draw, instead of empty axes."""
    ax.set_axis_off()
    ax.set_title(_wrap(title, ax.figure.get_figwidth()))
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


def plot_cv_scores(*, scores: str, metric: str, spec: dict, out: str, selection: str | None = None,
                   comparisons: str | None = None) -> None:
    """Box plots of the CV scores of each family's best configurations (by mean, as selection ranks
    them), grouped and coloured by model family, labelled by their parameters, the chosen and the
    practically equivalent ones marked."""
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import offset_copy

    table, stopped = finishers(pd.read_parquet(scores))
    n_stopped = stopped.groupby(["model", "config_id"]).ngroups
    cv = table[table["fold"] != "full"].dropna(subset=[metric])
    sign = 1 if spec["greater_is_better"] else -1
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    marks = selection_marks(selection, comparisons)
    boxes, names, families, total = [], {}, list(dict.fromkeys(cv["model"])), 0
    for i, family in enumerate(families):
        labels, names[family] = config_labels(table, family)
        per_config = dict(list(cv[cv["model"] == family].groupby("config_id")[metric]))
        order = sorted(per_config, key=lambda cid: (-sign * per_config[cid].mean(), cid))
        total += len(order)
        # The best few, and the chosen one wherever it ranks.
        shown = [cid for n, cid in enumerate(order) if n < MAX_BOXES_PER_FAMILY or (family, cid) in marks["chosen"]]
        boxes += [(i, (family, cid), per_config[cid].to_numpy(), labels[cid]) for cid in shown]
    if not boxes:
        fig = _figure()
        _say(fig.subplots(), f"CV {metric}", "Nothing to plot: no configuration has a CV score (every fit failed; "
                                             "see the failures in the report).")
        _save(fig, out)
        return
    width = max(7.0, 0.24 * len(boxes) + 2.5)
    fig = _figure(width, 5.5)
    ax = fig.subplots()
    parts = ax.boxplot([b[2] for b in boxes], patch_artist=True, widths=0.6, showmeans=True,
                       medianprops={"color": "black"},
                       meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black",
                                  "markersize": 4})
    for patch, (i, key, _, _) in zip(parts["boxes"], boxes):
        patch.set_facecolor(to_rgba(f"C{i % 10}", 0.55))
        if key in marks["equivalent"]:
            patch.set_linewidth(2.4)
    above = offset_copy(ax.transData, fig=fig, y=9, units="points")
    for j, (_, key, values, _) in enumerate(boxes, start=1):
        if key in marks["chosen"]:
            ax.plot([j], [values.max()], transform=above, clip_on=False, zorder=4, **_CHOSEN)
    for j in range(1, len(boxes)):
        if boxes[j][0] != boxes[j - 1][0]:
            ax.axvline(j + 0.5, color="grey", linewidth=0.8, linestyle=":")
    labels = [b[3] for b in boxes]
    slanted = len(boxes) <= 16 and max(map(len, labels)) > 8  # many boxes: upright labels, few long ones: slanted
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7, ha="right" if slanted else "center",
                  rotation=40 if slanted else 90 if len(boxes) > 16 else 0,
                  rotation_mode="anchor" if slanted else "default")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.06 * (high - low))  # room for the chosen marks above the boxes
    _plain_numbers(ax.yaxis)
    handles = [Patch(facecolor=to_rgba(f"C{i % 10}", 0.55), edgecolor="black",
                     label=_wrap(f"{family} ({', '.join(names[family]) or 'no parameters'})", 3.2, 9))
               for i, family in enumerate(families)]
    if "progressive" not in spec:
        handles.append(Line2D([], [], linestyle="none", marker="D", markerfacecolor="white", markeredgecolor="black",
                              markersize=4, label="mean over CV folds (ranks them);\nbox: quartiles, line: median"))
    shown = {key for _, key, _, _ in boxes}
    if shown & marks["chosen"]:
        handles.append(Line2D([], [], **_CHOSEN, label=_wrap(marks["chosen_label"], 3.2, 9)))
    if shown & marks["equivalent"]:  # a thick edge, as on the boxes
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2.4,
                             label=_wrap(marks["equivalent_label"], 3.2, 9)))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), max(1, int(width // 3.6))),
               fontsize="small")
    which = ("every configuration" + (" that reached the search's last stage" if n_stopped else "")
             if len(boxes) == total else (
        f"the best {MAX_BOXES_PER_FAMILY} configurations of each family and the chosen ones ({len(boxes)} of {total})"))
    note = ("\nin-sample: a fold's value is on its training rows; the choice is by the fit on all rows"
            if spec.get("on") == "train" else "")
    if n_stopped:
        note += f"\n{STOPPED_NOTE.format(n=n_stopped)}"
    if "progressive" in spec:  # one learner per configuration, scored while it learnt from the whole stream
        title = (f"{metric} of {which}, best first within each family: one value per configuration (progressive "
                 f"validation: one pass over the stream, no folds){note}")
        ylabel = f"{metric}\n({direction})"
    else:
        title = (f"CV {metric} of {which}, best mean first within each family: one box per configuration, its "
                 f"{metric} on each CV fold{note}")
        ylabel = f"{metric} on each CV fold\n({direction})"
    ax.set_title(_wrap(title, width))
    ax.set_xlabel(f"configuration of {families[0]} ({', '.join(names[families[0]])})" if len(families) == 1
                  else "configuration (its parameter values; their names per family in the legend)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, out)


def plot_families(*, scores: str, summary: str, selection: str, comparisons: str, metric: str, spec: dict,
                  out: str, top: int = TOP_CONFIGURATIONS) -> None:
    """Each family's chosen configuration against the best configuration overall, on the same CV
    folds: the difference on each fold (dots), the posterior interval of the mean difference
    (Student t with n_folds - 1 df, location and scale from comparisons.parquet), the region of
    practical equivalence shaded, and P(worse), P(equivalent), P(better) beside each. With one
    family, its ``top`` best configurations (and the chosen one) against its best; with nothing
    compared (an in-sample selection metric, or every fit failed), a figure that says why."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory
    from scipy import stats

    choices = read_json(selection)
    compared = pd.read_parquet(comparisons)
    families = list(choices["models"])
    rope = choices.get("rope") or 0
    if compared.empty:
        fig = _figure(7, 4.5)
        _say(fig.subplots(), f"Model families compared by {metric}",
             f"Nothing to compare: {_no_comparison(metric, spec)}")
        _save(fig, out)
        return
    table, _ = finishers(pd.read_parquet(summary))  # a staged search compares those that reached the end
    params = {(m, c): json.loads(p) for m, c, p in zip(table["model"], table["config_id"], table["params"])}
    if len(families) > 1:
        scope = compared[compared["scope"] == "overall"].set_index(["model", "config_id"])
        rows = [((f, c["config_id"]), f"{f}: {params_text(c['params'])}") if (c := choices["models"][f]["chosen"])
                else (None, f"{f}: every fit failed") for f in families]
        best = (scope["best_model"].iloc[0], scope["best_config_id"].iloc[0])
        what = (f"Each family's chosen configuration vs the best configuration overall "
                f"({best[0]}: {params_text(params[best])})")
    else:
        family = families[0]
        scope = compared[(compared["scope"] == "family") & (compared["model"] == family)]
        scope = scope.set_index(["model", "config_id"])
        sign = 1 if spec["greater_is_better"] else -1
        ranked = table[table["model"] == family].dropna(subset=[f"{metric}_mean"])
        ranked = ranked.assign(_score=-sign * ranked[f"{metric}_mean"]).sort_values(["_score", "config_id"])
        keys = [(family, c) for c in ranked["config_id"][:top]]
        chosen = choices["models"][family]["chosen"]
        if chosen and (family, chosen["config_id"]) not in keys:
            keys.append((family, chosen["config_id"]))
        rows = [(k, params_text(params[k]) + (" (chosen)" if chosen and k[1] == chosen["config_id"] else ""))
                for k in keys]
        best = keys[0]
        what = (f"One family ({family}), so its {len(keys)} best configurations by mean CV {metric} are compared "
                f"with its best ({params_text(params[best])})")
    sign = 1 if spec["greater_is_better"] else -1
    matrix = fold_matrix(pd.read_parquet(scores), metric)
    fig = _figure(10, max(3.8, 2.2 + 0.62 * len(rows)))
    ax = fig.subplots()
    if rope:
        ax.axvspan(-rope, rope, color="C2", alpha=0.2, linewidth=0)
    ax.axvline(0, color="black", linewidth=0.8)
    beside, n_folds = [], 0
    across = blended_transform_factory(ax.transAxes, ax.transData)
    for r, (key, _) in enumerate(rows):
        if key is None or key not in scope.index:
            ax.text(0.5, r, "every fit failed: nothing to compare" if key is None else "not compared", ha="center",
                    va="center", style="italic", transform=across)
            beside.append("—")
            continue
        c = scope.loc[key]
        reference = (c["best_model"], c["best_config_id"])
        values, base = matrix.loc[key].to_numpy(dtype=float), matrix.loc[reference].to_numpy(dtype=float)
        paired = ~np.isnan(values) & ~np.isnan(base)
        d = sign * (values[paired] - base[paired])
        n_folds = max(n_folds, len(d))
        ax.scatter(d, r + (np.linspace(-0.2, 0.2, len(d)) if len(d) > 1 else 0), s=14, color="0.3", alpha=0.7, zorder=5)
        if key == reference:
            beside.append("the reference (the best)")
            continue
        mean, se, n = float(c["mean_difference"]), float(c["se_difference"]), int(c["n_folds"])
        if n >= 2 and se > 0:
            ax.plot(stats.t.interval(INTERVAL, n - 1, loc=mean, scale=se), [r, r], color="C0", linewidth=3.5,
                    solid_capstyle="butt", zorder=2)
        ax.plot([mean], [r], marker="o", color="C0", markerfacecolor="white", markersize=7, zorder=4)
        verdict = {"worse": "credibly worse", "equivalent": "practically equivalent",
                   "undecided": "undecided: the folds cannot tell"}.get(c["decision"], c["decision"])
        beside.append(f"P(worse) {c['p_worse']:.2f}   P(equivalent) {c['p_equivalent']:.2f}   "
                      f"P(better) {c['p_better']:.2f}\n→ {verdict}")
    n = len(rows)
    ax.set_yticks(range(n), [_wrap(label, 2.6, 9) for _, label in rows], fontsize=9)
    ax.set_ylim(n - 0.5, -0.5)
    right = ax.twinx()
    right.set_ylim(n - 0.5, -0.5)
    right.set_yticks(range(n), beside, fontsize=8)
    right.tick_params(length=0)
    right.set_ylabel("posterior probability against the best", fontsize=9)
    _plain_numbers(ax.xaxis)
    ax.grid(alpha=0.3, axis="x")
    direction = "higher is better" if spec["greater_is_better"] else "lower is better"
    first, second = ("the configuration", "the best")[::1 if spec["greater_is_better"] else -1]
    ax.set_xlabel(_wrap(f"{metric} of {first} − {metric} of {second}, on the same fold ({direction}, so > 0: the "
                        "configuration is better)", 10, 10))
    ax.set_title(_wrap(f"{what}: difference in {metric} ({direction}) on the same {n_folds} CV folds", 10))
    handles = [Line2D([], [], linestyle="none", marker="o", color="0.3", alpha=0.7, markersize=4,
                      label="difference on one CV fold"),
               Line2D([], [], color="C0", linewidth=3.5, marker="o", markerfacecolor="white", markersize=7,
                      label=f"mean difference and its {INTERVAL:.0%} posterior interval (Student t, n_folds − 1 df, "
                            "corrected for overlapping folds)")]
    handles.append(Patch(color="C2", alpha=0.2, label=f"region of practical equivalence ±{rope:g}") if rope else
                   Line2D([], [], color="black", linewidth=0.8, label="no difference (no selection.rope: no region of practical "
                                                                      "equivalence set)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=1, fontsize="small")
    _save(fig, out)


def _no_comparison(metric: str, spec: dict) -> str:
    if spec["on"] == "train":
        return (f"the selection metric {metric} is in-sample (computed on the rows each model was fitted on), so "
                "there are no CV folds on which to compare configurations; the families are ranked by it alone. "
                "Select by an out-of-sample metric to see how sure that ranking is.")
    if "progressive" in spec:
        return f"{metric} is scored by progressive validation, which has no CV folds to compare configurations on."
    return "no configuration has a CV score (every fit failed; see the failures in the report)."


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
    name = f"{winner['model']} ({params_text(winner['params'])})"
    if pd.api.types.is_float_dtype(frame[label]):
        ax.scatter(y_true, y_pred, s=12, alpha=0.7)
        low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
        ax.plot([low, high], [low, high], color="grey", linestyle="--", label="predicted = true")
        ax.legend(fontsize="small")
        ax.set_xlabel(f"true {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.set_title(_wrap(f"Held-out test set: the overall winner {name}", 6))
    else:
        # A classifier predicts the label's classes: a confusion matrix. A clusterer numbers its
        # clusters, which are not classes: the label's values against its clusters.
        clusterer = not hasattr(model, "classes_")
        rows = np.unique(y_true)
        columns = np.unique(y_pred) if clusterer else np.unique(np.concatenate([y_true, y_pred]))
        rows = rows if clusterer else columns
        counts = np.array([[np.sum((y_true == t) & (y_pred == p)) for p in columns] for t in rows])
        image = ax.imshow(counts, cmap="Blues")
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > counts.max() / 2 else "black")
        ax.set_xticks(range(len(columns)), [str(c) for c in columns])
        ax.set_yticks(range(len(rows)), [str(c) for c in rows])
        ax.set_xlabel("cluster" if clusterer else f"predicted {label}")
        ax.set_ylabel(f"true {label}")
        what = "clusters" if clusterer else "predictions"
        ax.set_title(_wrap(f"Held-out test set: the {what} of the overall winner {name}", 6))
        fig.colorbar(image, ax=ax, label="test rows")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return f"{len(y_true)} held-out rows, winner {name}"
