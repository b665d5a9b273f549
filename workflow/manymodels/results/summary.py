"""The run summary: what ran, what came from cache, what failed, what was chosen, where the report is.

Written at the end of every run that changed anything (``results/<name>/run.json``, with the text
the console prints) and printed again by a run with nothing to do. A family whose every fit failed
is an error, as scikit-learn's "All the N fits failed" is: the report is written first (with the
failures grouped), then the run fails naming the family and its most common error.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pandas as pd

from ..task.io import read_json, write_json
from .aggregate import error_pattern
from .formatting import format_params, format_score
from .selection import with_refit_scores
from .verdict import certainty_lines

COLUMNS = ["model", "config_id", "fold", "status", "error_type", "error", "fitted_at", "scored_at"]


def family_counts(scores: pd.DataFrame, run_started: str | None) -> dict[str, dict]:
    """Per family: tasks, fits made and reused in this run, scores made, failures and the most common error."""
    started = pd.Timestamp(run_started) if run_started else None
    families = {}
    for model, rows in scores.groupby("model", sort=False):
        fitted_now = (pd.to_datetime(rows["fitted_at"], format="ISO8601") >= started) if started is not None else None
        scored_now = (pd.to_datetime(rows["scored_at"], format="ISO8601") >= started) if started is not None else None
        failed = rows[rows["status"] != "ok"]
        common = None
        if len(failed):
            patterns = failed.assign(pattern=failed["error"].map(error_pattern))
            top = patterns.groupby(["error_type", "pattern"], dropna=False, sort=False).size().sort_values(
                ascending=False, kind="stable")
            (error_type, pattern), count = top.index[0], int(top.iloc[0])
            example = patterns[(patterns["error_type"] == error_type) & (patterns["pattern"] == pattern)]["error"].iloc[0]
            common = {"error_type": error_type, "error": example, "tasks": count}
        families[model] = {
            "tasks": int(len(rows)),
            "ok": int((rows["status"] == "ok").sum()),
            "failed": int(len(failed)),
            "fitted_now": None if fitted_now is None else int(fitted_now.sum()),
            "scored_now": None if scored_now is None else int(scored_now.sum()),
            "most_common_error": common,
        }
    return families


def _chosen(choice: dict | None, summary: pd.DataFrame) -> dict | None:
    """A chosen configuration with its standard error, for the summary."""
    if not choice:
        return None
    entry = {key: choice[key] for key in ("model", "config_id", "params", "value", "by")}
    entry["test"] = choice.get("test", {})
    entry["sem"] = None
    row = summary[(summary["model"] == choice["model"]) & (summary["config_id"] == choice["config_id"])]
    if len(row):
        entry["params"] = json.loads(row["params"].iloc[0])  # the same values, in the config's order
        if entry["by"].endswith("_mean"):
            sem = row[entry["by"].removesuffix("_mean") + "_sem"].iloc[0]
            entry["sem"] = None if pd.isna(sem) else float(sem)
    return entry


def summarise_run(*, scores: str, summary: str, selection: str, report_file: str, experiment: str, config_file: str,
                  run_marker: str | None, out: str, refit_scores: list[str] = (), nested: list[str] = ()) -> dict:
    """Write ``run.json`` and return ``{"log": text, "error": message or None}``.

    ``error`` names every family whose every fit failed, with its most common error.
    """
    table = pd.read_parquet(scores, columns=COLUMNS)
    summ = pd.read_parquet(summary)
    choices = with_refit_scores(read_json(selection), list(refit_scores))
    started = read_json(run_marker)["started"] if run_marker and os.path.exists(run_marker) else None
    families = family_counts(table, started)
    for model, counts in families.items():
        counts["chosen"] = _chosen(choices["models"].get(model, {}).get("chosen"), summ)
    record = {
        "experiment": experiment,
        "config_file": config_file,
        "finished": datetime.now(timezone.utc).isoformat(),
        "run_started": started,
        "report": report_file,
        "selection_metric": choices["selection_metric"],
        "families": families,
        "winner": _chosen(choices.get("overall"), summ),
        "failed_families": [m for m, c in families.items() if c["ok"] == 0],
        "certainty": certainty_lines(choices, read_json(nested[0]) if nested else None),
    }
    record["text"] = format_summary(record)
    record["error"] = all_failed_message(record)
    write_json(record, out)
    return {"log": record["text"], "error": record["error"]}


def all_failed_message(record: dict) -> str | None:
    """The error of a run in which some family's every fit failed; None when each family has a fit."""
    parts = []
    for model in record["failed_families"]:
        counts = record["families"][model]
        common = counts["most_common_error"]
        parts.append(f"all {counts['tasks']} fits of family '{model}' failed; most common error "
                     f"({common['tasks']} of them): {common['error_type']}: {_shorten(common['error']).rstrip('.')}")
    if not parts:
        return None
    return "; ".join(parts) + f". The report groups the failures: {record['report']}"


def format_summary(record: dict) -> str:
    """The console summary of a run: a table of families, the winner, the report's path."""
    from tabulate import tabulate

    metric = record["selection_metric"]
    rows = []
    for model, counts in record["families"].items():
        chosen = counts["chosen"]
        rows.append([
            model, counts["tasks"], _count(counts["fitted_now"]),
            _count(None if counts["fitted_now"] is None else counts["tasks"] - counts["fitted_now"]),
            counts["failed"],
            format_params(chosen["params"]) if chosen else "none (every fit failed)",
            format_score(chosen["value"], chosen["sem"]) if chosen else "",
        ])
    totals = {key: sum(c[key] or 0 for c in record["families"].values()) for key in ("tasks", "failed", "fitted_now")}
    lines = [f"Experiment {record['experiment']} ({record['config_file']}): {totals['tasks']} tasks "
             f"(configuration x fold), {totals['fitted_now']} fitted in this run, "
             f"{totals['tasks'] - totals['fitted_now']} reused from earlier runs, {totals['failed']} failed."]
    lines += tabulate(rows, headers=["family", "tasks", "fitted", "reused", "failed", f"chosen by {metric}", metric],
                      tablefmt="simple", disable_numparse=True).splitlines()
    winner = record["winner"]
    if winner:
        how = "mean ± standard error over CV folds" if winner["sem"] is not None else (
            "in-sample, fit on all rows" if winner["by"].endswith("_full") else "")
        test = "; held-out " + ", ".join(f"{m} {format_score(v)}" for m, v in winner["test"].items()) if winner["test"] else ""
        lines.append(f"Winner: {winner['model']} {format_params(winner['params'])}: {metric} "
                     f"{format_score(winner['value'], winner['sem'])}{f' ({how})' if how else ''}{test}")
    lines += record.get("certainty", [])
    for model, counts in record["families"].items():
        common = counts["most_common_error"]
        if counts["failed"] and common:
            lines.append(f"Failures in {model}: {counts['failed']} of {counts['tasks']} tasks; most common "
                         f"({common['tasks']}): {common['error_type']}: {_shorten(common['error'])}")
    lines.append(f"Report: {record['report']}")
    return "\n".join(lines)


def _count(value) -> str:
    return "?" if value is None else str(value)


def _shorten(text, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
