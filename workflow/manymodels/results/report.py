"""The HTML report: what ran, what was chosen, the selection plots and the failures."""

from __future__ import annotations

import html
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..task.io import atomic_path, read_json
from .aggregate import failures, family_params, metric_value_column, uncomputed_metrics
from .formatting import (
    SE_SUFFIX,
    format_bytes,
    format_number,
    format_params,
    format_score,
    format_value,
)
from .selection import with_refit_scores
from .summary import STOPPED_KINDS, counts_line, extra_fits, family_counts
from .verdict import (
    DECISIONS,
    percent,
    certainty_text,
    equivalent_set_table,
    families_table,
    headline,
    nested_text,
    race_text,
    warnings_html,
)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="t", na_rep="", float_format=format_number, escape=True)


def _choice_rows(choice: dict) -> pd.DataFrame:
    rows = []
    for criterion, best in choice["best"].items():
        if best is not None:
            rows.append({"criterion": criterion, "by": best["by"], "value": best["value"], "config_id": best["config_id"],
                         "parameters": format_params(best["params"]),
                         **{f"test {m}": v for m, v in best.get("test", {}).items()}})
    return pd.DataFrame(rows)


def _top_configurations(summary: pd.DataFrame, model: str, metrics: dict, metric: str, n: int = 10,
                        comparisons: pd.DataFrame | None = None) -> str:
    """The n best configurations of a family by the selection metric, with each metric's ranking
    value and, from ``comparisons``, its verdict against the family's best."""
    key = metric_value_column(metric, metrics[metric])
    columns = ["config_id", *family_params(summary, model), "n_ok", "n_failed"]
    summary = summary[summary["model"] == model]
    stopped = summary[summary["stopped_at"].notna()] if "stopped_at" in summary else summary.iloc[:0]
    # A staged search's configurations stopped early were scored with less of the resource (or on
    # fewer folds): they are ranked apart, never beside those that reached the end.
    summary = summary.drop(stopped.index)
    for name, spec in metrics.items():
        columns.append(metric_value_column(name, spec))
        if spec["on"] == "test":
            columns.append(f"{name}{SE_SUFFIX}")
    top = summary.sort_values(key, ascending=not metrics[metric]["greater_is_better"], na_position="last")
    top = top[columns].head(n)
    for name in family_params(summary, model):  # as the config wrote them (3, not 3.000; null)
        top[name] = [format_value(json.loads(p).get(name)) for p in summary.loc[top.index, "params"]]
    if comparisons is not None and not comparisons.empty:
        family = comparisons[(comparisons["scope"] == "family") & (comparisons["model"] == model)].set_index("config_id")
        top["P(no worse than the best)"] = [percent(family["p_equivalent"].get(c, float("nan"))
                                                     + family["p_better"].get(c, float("nan"))) for c in top["config_id"]]
        top["verdict"] = [DECISIONS.get(family["decision"].get(c), "") for c in top["config_id"]]
    text = f"<h3>Top {n} configurations by {html.escape(key)}</h3>"
    if len(stopped):
        text = (f"<h3>Top {n} of the {len(summary)} configurations that reached the last stage, by "
                f"{html.escape(key)}</h3>")
    return text + _table(top) + _stopped_table(stopped, key, metrics[metric]["greater_is_better"])


def _stopped_table(stopped: pd.DataFrame, key: str, greater_is_better: bool) -> str:
    """Where a staged search stopped the other configurations, with the best of each stage at that
    stage (its score there is not comparable with the table above)."""
    if stopped.empty:
        return ""
    rows = []
    for stage, group in stopped.groupby("stopped_at", sort=False):
        ranked = group.dropna(subset=[key]).sort_values(key, ascending=not greater_is_better)
        rows.append({"stopped at": stage, "configurations": len(group),
                     "every fit failed": int((group["n_ok"] == 0).sum()),
                     f"best {key} there": format_number(ranked[key].iloc[0]) if len(ranked) else "n/a",
                     "its parameters": format_params(json.loads(ranked["params"].iloc[0])) if len(ranked) else ""})
    return ("<p>The other configurations stopped earlier; their scores are from that stage (less of the resource, "
            "or fewer folds), so they are not ranked with those above:</p>"
            + _table(pd.DataFrame(rows).sort_values("stopped at", key=lambda c: c.map(_stage_order), kind="stable")))


def _stopped_fits(scores: pd.DataFrame) -> str:
    """The configurations whose fits their process could not finish: a worker that crashed, a time
    or memory limit (limits in the config), each with its folds and what happened."""
    stopped = scores[scores["error_type"].isin(list(STOPPED_KINDS))]
    if stopped.empty:
        return ""
    rows = []
    for (model, config_id, kind), group in stopped.groupby(["model", "config_id", "error_type"], sort=False):
        rows.append({"family": model, "configuration": format_params(json.loads(group["params"].iloc[0])),
                     "what happened": STOPPED_KINDS[kind], "folds": ", ".join(group["fold"]),
                     "example": group["error"].iloc[0]})
    return ("<h3>Fits their process could not finish</h3><p>A fit whose worker process died (a crash in compiled "
            "code, the kernel's out-of-memory killer: run once more on a fresh worker first), or that ran past "
            "its limit (<code>limits</code> in the config), is a failed row like any other; the other fits "
            "went on.</p>" + _table(pd.DataFrame(rows)))


def _stage_order(stage: str) -> int:
    """'rung 1 (...)' and 'before fold 10' in the order the search reached them."""
    found = re.search(r"\d+", stage)
    return int(found.group()) if found else 0


def _artifact_sizes(results_dir: str) -> pd.DataFrame:
    """Bytes of fitted models, score files and kept models per model family."""
    from .store import Results

    sizes = Results(results_dir).artifact_bytes()
    table = sizes.pivot_table(index="model", columns="artifacts", values="bytes", aggfunc="sum", fill_value=0)
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table.map(format_bytes).reset_index()


def _image(plot: str, base: str) -> str:
    """A figure embedded in the page (a data URI), so the report is one self-contained file that can
    be copied or mailed alone; its file beside the results is named in the alt text."""
    import base64

    rel = os.path.relpath(os.path.abspath(plot), base)
    data = base64.b64encode(Path(plot).read_bytes()).decode("ascii")
    return f"<p><img src='data:image/png;base64,{data}' alt='{html.escape(rel)}' title='{html.escape(rel)}'></p>"


def ranking_table(summary: pd.DataFrame, choices: dict, metrics: dict) -> pd.DataFrame:
    """Each family's chosen configuration, best first: CV mean +- standard error (or the in-sample
    value it was chosen by) and held-out test score."""
    metric = choices["selection_metric"]
    spec = metrics[metric]
    rows = []
    for model, choice in choices["models"].items():
        chosen = choice["chosen"]
        if not chosen:
            continue
        row = summary[(summary["model"] == model) & (summary["config_id"] == chosen["config_id"])].iloc[0]
        entry = {"model": model, "config_id": chosen["config_id"], "parameters": format_params(chosen["params"])}
        if spec["on"] == "test":
            entry[f"CV {metric} (mean ± corrected SE)"] = format_score(row[f"{metric}_mean"], row[f"{metric}{SE_SUFFIX}"])
        else:  # chosen by an in-sample metric, of the fit on every training row
            entry[f"{metric} (in-sample, fit on all rows)"] = format_score(chosen["value"])
        for name, value in chosen.get("test", {}).items():
            entry[f"test {name}"] = value
        entry["_rank"] = chosen["value"] * (1 if spec["greater_is_better"] else -1)
        rows.append(entry)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values("_rank", ascending=False).drop(columns="_rank").reset_index(drop=True)


def _ranking(summary: pd.DataFrame, choices: dict, metrics: dict) -> str:
    overall = choices.get("overall")
    if not overall:
        return "<p>No configuration could be chosen (every fit failed?).</p>"
    text = (f"<h2>Ranking of the model families</h2><p>Each family's chosen configuration by "
            f"{html.escape(choices['selection_metric'])}; the overall winner is <b>{html.escape(overall['model'])}</b> "
            f"<code>{overall['config_id']}</code> {html.escape(format_params(overall['params']))}.")
    if overall.get("test"):
        text += " Test scores are on the held-out set, which no CV fold saw; the winner was then refitted on every row."
    return text + "</p>" + _table(ranking_table(summary, choices, metrics))


def _uncomputed_text(missing: pd.DataFrame) -> str:
    """One sentence per family and reason for the metrics it has no value of."""
    parts = []
    for (model, reason), rows in missing.groupby(["model", "reason"], sort=False):
        names = ", ".join(rows["metric"])
        parts.append(f"<p><b>{html.escape(model)}</b> has no value of {html.escape(names)} ({html.escape(reason)}); "
                     "those plots are left out and the family is compared on the metrics it has.</p>")
    return "".join(parts)


def _selection_section(summary: pd.DataFrame, choices: dict, metrics: dict, missing: pd.DataFrame) -> str:
    """What was chosen and why: the ranking of the families and each family's choice."""
    parts = [_ranking(summary, choices, metrics), _uncomputed_text(missing)]
    unchosen = set(missing.loc[missing["metric"] == choices["selection_metric"], "model"])
    for model, choice in choices["models"].items():
        chosen, one = choice["chosen"], choice["one_se"]
        text = f"<p><b>{html.escape(model)}</b>: "
        if not chosen and model in unchosen:
            parts.append(text + f"no configuration could be chosen: it has no value of the selection metric "
                                f"{html.escape(choices['selection_metric'])} (see above).</p>")
            continue
        if not chosen:
            parts.append(text + "no configuration could be chosen: every fit failed (see the failures).</p>")
            continue
        text += f"chosen <code>{chosen['config_id']}</code> {html.escape(format_params(chosen['params']))}"
        equivalent, counts = choice.get("simplest_equivalent"), choice.get("comparison")
        if choice.get("rule", "one_se") == "one_se" and one:
            text += (f", the simplest configuration within one (corrected) standard error of the best by "
                     f"{html.escape(choice['selection_metric'])} ({format_number(one['value'])})")
        elif choice.get("rule") == "equivalent" and equivalent and counts:
            n, by = counts["equivalent"], html.escape(choice["selection_metric"])
            if n == 0:
                text += f", the family's best by {by} (no other configuration is practically equivalent to it)"
            elif choice.get("simplest_by"):
                text += (f", the simplest (fewest {html.escape(', '.join(choice['simplest_by']))}) of the {n + 1} "
                         f"configurations practically equivalent to the family's best by {by}")
            else:
                text += (f", the family's best by {by}; {n} other configuration{'s are' if n > 1 else ' is'} practically "
                         "equivalent to it (selection.simplest would choose the simplest of them)")
        parts.append(text + f"; its fit on all training rows: <code>{html.escape(chosen['model_file'])}</code>.</p>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table.t{border-collapse:collapse;"
            "font-size:13px}table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd}img{max-width:100%}"
            ".warn{background:#fff6e0;border-left:4px solid #e0a000;padding:6px 12px;margin:1em 0}"
            ".headline{background:#eef4fb;border-left:4px solid #3a78c2;padding:6px 12px;margin:1em 0}"
            f"</style></head><body>{body}</body></html>")


def _verdict_section(summary: pd.DataFrame, choices: dict, comparisons: pd.DataFrame, nested: dict | None,
                     metrics: dict) -> str:
    """How sure the choice is: warnings, the comparisons with the best, the nested estimate."""
    metric = choices["selection_metric"]
    parts = ["<h2>How sure is the choice?</h2>", warnings_html(choices), certainty_text(choices, summary)]
    if len(choices.get("families_vs_best", [])) > 1:
        parts.append(f"<h3>The families' chosen configurations against the best, on the same folds</h3>"
                     + _table(families_table(choices)))
    if not comparisons.empty:
        equivalent = equivalent_set_table(choices, summary, comparisons, metrics[metric]["greater_is_better"])
        if len(equivalent) > 1:
            others = len(equivalent) - 1
            parts.append(f"<h3>The best and the {others} configuration{'s' if others != 1 else ''} practically "
                         "equivalent to it</h3>" + _table(equivalent))
    parts.append(nested_text(nested))
    return "\n".join(parts)


def write_report(
    *,
    scores: str,
    summary: str,
    selection: str,
    comparisons: str,
    data_summary: str,
    plots: list[str],
    metrics: dict,
    run_marker: str | None,
    out: str,
    out_selection: str | None = None,
    out_tables: str | None = None,
    out_failures: str | None = None,
    refit_scores: list[str] = (),
    nested: list[str] = (),
    race: list[str] = (),
) -> None:
    """Write a self-contained HTML report beside the results (plots embedded), and
    its selection text, configuration tables and failures as pages of their own (``out_*``, shown
    by ``snakemake --report``)."""
    table = pd.read_parquet(scores)
    summ = pd.read_parquet(summary)
    choices = with_refit_scores(read_json(selection), list(refit_scores))
    data = read_json(data_summary)
    started = read_json(run_marker)["started"] if run_marker and os.path.exists(run_marker) else None
    nested_record = read_json(nested[0]) if nested else None
    decisions = [read_json(p) for p in race]
    families = family_counts(table, started, extra_fits(decisions, nested_record))
    n_failed = sum(c["failed"] for c in families.values())
    base = os.path.dirname(os.path.abspath(out))
    missing = uncomputed_metrics(table, metrics)
    left_out = {os.path.join(m, f"{metric}.png") for m, metric in zip(missing["model"], missing["metric"])}
    plots = [p for p in plots if os.path.join(*Path(p).parts[-2:]) not in left_out]
    compared = pd.read_parquet(comparisons)
    verdict_html = _verdict_section(summ, choices, compared, nested_record, metrics)
    selection_html = (verdict_html + race_text(decisions, table)
                      + _selection_section(summ, choices, metrics, missing))
    tables = {model: _top_configurations(summ, model, metrics, choice["selection_metric"], comparisons=compared)
              for model, choice in choices["models"].items()}
    fails = failures(table)
    failures_html = (f"<h2>Failures ({n_failed} fits)</h2>"
                     + (_table(fails) if len(fails) else "<p>No fit failed.</p>") + _stopped_fits(table))
    parts = [
        "<h1>manymodels report</h1>",
        f"<p>Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}.</p>",
        headline(choices, summ, nested_record, metrics),
        "<h2>Data</h2>",
        f"<p>Source <code>{html.escape(os.path.basename(data['source']))}</code>: {data['n_source_rows']} rows, "
        f"{data['n_dropped_missing']} dropped for missing values, {data['n_rows']} used. "
        f"Features: {html.escape(', '.join(data['features']))}; label: {html.escape(str(data['label']))}.</p>",
        "<h2>Fits</h2>",
        f"<p>{html.escape(counts_line(families))}.",
    ]
    parts.append("</p>")
    parts.append(selection_html)
    parts += [_image(plot, base) for plot in plots if os.sep not in os.path.relpath(plot, os.path.join(base, "plots"))]
    for model, choice in choices["models"].items():
        parts.append(f"<h2>Model family <code>{html.escape(model)}</code></h2>")
        parts.append("<h3>Best configuration by each criterion</h3>" + _table(_choice_rows(choice)))
        parts += [_image(plot, base) for plot in plots if f"{os.sep}{model}{os.sep}" in os.path.abspath(plot)]
        parts.append(tables[model])
    parts.append("<h2>Artifacts on disk</h2>" + _table(_artifact_sizes(base)))
    parts.append(failures_html)
    pages = {out: ("manymodels report", "\n".join(parts)),
             out_selection: ("Selection", selection_html),
             out_tables: ("Configurations", "".join(f"<h2>{html.escape(m)}</h2>{tables[m]}" for m in tables)),
             out_failures: ("Failures", failures_html)}
    for path, (title, body) in pages.items():
        if path is not None:
            with atomic_path(path) as tmp, open(tmp, "w") as fh:
                fh.write(_page(title, body))
