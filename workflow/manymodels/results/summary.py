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
from .formatting import SE_SUFFIX, format_params, format_score, uncertainty_note
from .selection import with_refit_scores
from .verdict import certainty_lines

COLUMNS = ["model", "config_id", "fold", "status", "error_type", "error", "fitted_at", "scored_at", "n_train"]
# What a successive halving's score rows add: the resource each fit had.
STAGE_COLUMNS = ["resource"]


def read_counted_scores(path: str) -> pd.DataFrame:
    """The columns of results/scores.parquet that the counts need."""
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in COLUMNS + STAGE_COLUMNS if c in names])


def extra_fits(decisions: list[dict] = (), nested: dict | None = None) -> dict[str, dict]:
    """The fits no table holds, by where they are from: the fits of earlier rungs of the
    configurations that went on (successive halving; each configuration's last rung is in the
    tables), and the fits on the inner folds of nested CV."""
    from .aggregate import merge_tallies

    extra = {}
    stages = [d["superseded_fits"] for d in decisions if "superseded_fits" in d]
    if stages:
        extra["earlier rungs"] = merge_tallies(stages)
    if nested and nested.get("inner_fits"):
        extra["nested CV inner folds"] = nested["inner_fits"]
    return extra


def family_counts(scores: pd.DataFrame, run_started: str | None, extra: dict[str, dict] | None = None) -> dict[str, dict]:
    """Per family, what the console, run.json and the report count (one definition for all three):

    ``fits``, every fit made: the (configuration x fold) tasks of the tables (``tasks``) and the
    fits no table holds (``extra``: see :func:`extra_fits`; ``parts`` says how many of each);
    ``failed``, how many of those failed; ``fitted_now``, how many this run made (the others were
    reused); ``ok``, the tasks that succeeded; and the most common error of the tasks, with the
    resource its fits had under successive halving (a fit on a small share of the rows may fail where
    the full fit would not)."""
    started = pd.Timestamp(run_started) if run_started else None

    def made_now(times) -> int | None:
        if started is None:
            return None
        return int((pd.to_datetime(pd.Series(list(times), dtype=object), format="ISO8601") >= started).sum())

    families = {}
    for model, rows in scores.groupby("model", sort=False):
        failed = rows[rows["status"] != "ok"]
        common = None
        if len(failed):
            where = ["resource"] if "resource" in failed else []
            patterns = failed.assign(pattern=failed["error"].map(error_pattern))
            top = patterns.groupby([*where, "error_type", "pattern"], dropna=False, sort=False).size().sort_values(
                ascending=False, kind="stable")
            key, count = top.index[0], int(top.iloc[0])
            hit = patterns
            for column, value in zip([*where, "error_type", "pattern"], key):
                hit = hit[hit[column] == value]
            common = {"error_type": hit["error_type"].iloc[0], "error": hit["error"].iloc[0], "tasks": count}
            if where and hit["resource"].iloc[0] != "the full resource":
                common["where"] = f"with {hit['resource'].iloc[0]}, about {hit['n_train'].median():.0f} rows"
        parts = {"tasks": int(len(rows))}
        failed_fits, times = int(len(failed)), list(rows["fitted_at"].dropna())
        for name, tally in (extra or {}).items():
            if model in tally:
                parts[name] = tally[model]["fits"]
                failed_fits += tally[model]["failed"]
                times += tally[model]["fitted_at"]
        families[model] = {
            "tasks": int(len(rows)),
            "fits": sum(parts.values()),
            "parts": parts,
            "ok": int((rows["status"] == "ok").sum()),
            "failed": failed_fits,
            # Failures that are not the fit's own exception: its worker died, or a limit stopped it.
            "stopped": {kind: int((failed["error_type"] == kind).sum()) for kind in STOPPED_KINDS
                        if (failed["error_type"] == kind).any()},
            "fitted_now": made_now(times),
            "most_common_error": common,
        }
    return families


# error_type of a fit its process could not finish, and how the summary says it.
STOPPED_KINDS = {"WorkerCrash": "crashed", "TimeLimit": "over the time limit",
                 "MemoryLimit": "over the memory limit"}


def counts_line(families: dict[str, dict]) -> str:
    """``216 fits (configuration x fold), 216 fitted in this run, 0 reused, 0 failed``, with the
    parts when some fits are in no table (earlier rungs, nested CV's inner folds)."""
    fits = sum(c["fits"] for c in families.values())
    failed = sum(c["failed"] for c in families.values())
    parts: dict[str, int] = {}
    for counts in families.values():
        for name, n in counts["parts"].items():
            parts[name] = parts.get(name, 0) + n
    if len(parts) > 1:
        what = "; ".join(f"{n} {'configuration x fold tasks' if name == 'tasks' else f'on {name}'}"
                         for name, n in parts.items())
    else:
        what = "configuration x fold"
    now = [c["fitted_now"] for c in families.values()]
    made = "" if None in now else f", {sum(now)} fitted in this run, {fits - sum(now)} reused from earlier runs"
    stopped: dict[str, int] = {}
    for counts in families.values():
        for kind, n in counts.get("stopped", {}).items():
            stopped[kind] = stopped.get(kind, 0) + n
    how = f" ({', '.join(f'{n} {STOPPED_KINDS[k]}' for k, n in stopped.items())})" if stopped else ""
    return f"{fits} fits ({what}){made}, {failed} failed{how}"


def _chosen(choice: dict | None, summary: pd.DataFrame, metrics: dict | None = None) -> dict | None:
    """A chosen configuration with its corrected standard error (``se``; ``sem``, the naive one) and
    what its score is (``how``), for the summary."""
    if not choice:
        return None
    entry = {key: choice[key] for key in ("model", "config_id", "params", "value", "by")}
    entry["test"] = choice.get("test", {})
    entry["se"] = entry["sem"] = None
    metric = entry["by"].removesuffix("_mean").removesuffix("_full")
    n_folds = None
    row = summary[(summary["model"] == choice["model"]) & (summary["config_id"] == choice["config_id"])]
    if len(row):
        entry["params"] = json.loads(row["params"].iloc[0])  # the same values, in the config's order
        n_folds = int(row["n_ok"].iloc[0])
        if entry["by"].endswith("_mean"):
            for key, column in (("se", f"{metric}{SE_SUFFIX}"), ("sem", f"{metric}_sem")):
                value = row[column].iloc[0] if column in row else None
                entry[key] = None if value is None or pd.isna(value) else float(value)
    progressive = bool(metrics and "progressive" in metrics.get(metric, {}))
    entry["how"] = uncertainty_note(by=entry["by"], n_folds=n_folds, progressive=progressive)
    return entry


def summarise_run(*, scores: str, summary: str, selection: str, report_file: str, experiment: str, config_file: str,
                  run_marker: str | None, out: str, refit_scores: list[str] = (), nested: list[str] = (),
                  race: list[str] = (), metrics: dict | None = None, keep_models: str | None = None) -> dict:
    """Write ``run.json`` and return ``{"log": text, "error": message or None}``.

    ``error`` names every family whose every fit failed, with its most common error.
    """
    table = read_counted_scores(scores)
    summ = pd.read_parquet(summary)
    choices = with_refit_scores(read_json(selection), list(refit_scores))
    started = read_json(run_marker)["started"] if run_marker and os.path.exists(run_marker) else None
    nested_record = read_json(nested[0]) if nested else None
    families = family_counts(table, started, extra_fits([read_json(p) for p in race], nested_record))
    for model, counts in families.items():
        counts["chosen"] = _chosen(choices["models"].get(model, {}).get("chosen"), summ, metrics)
    record = {
        "experiment": experiment,
        "config_file": config_file,
        "finished": datetime.now(timezone.utc).isoformat(),
        "run_started": started,
        "report": report_file,
        "keep_models": keep_models,
        "selection_metric": choices["selection_metric"],
        "families": families,
        "winner": _chosen(choices.get("overall"), summ, metrics),
        "failed_families": [m for m, c in families.items() if c["ok"] == 0],
        "certainty": certainty_lines(choices, nested_record),
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
        parts.append(f"all {counts['fits']} fits of family '{model}' failed; most common error "
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
        fits = counts.get("fits", counts["tasks"])
        rows.append([
            model, fits, _count(counts["fitted_now"]),
            _count(None if counts["fitted_now"] is None else fits - counts["fitted_now"]),
            counts["failed"],
            format_params(chosen["params"]) if chosen else "none (every fit failed)",
            format_score(chosen["value"], chosen.get("se", chosen.get("sem"))) if chosen else "",
        ])
    lines = [f"Experiment {record['experiment']} ({record['config_file']}): {counts_line(record['families'])}."]
    lines += tabulate(rows, headers=["family", "fits", "fitted", "reused", "failed", f"chosen by {metric}", metric],
                      tablefmt="simple", disable_numparse=True).splitlines()
    winner = record["winner"]
    if winner:
        test = "; held-out " + ", ".join(f"{m} {format_score(v)}" for m, v in winner["test"].items()) if winner["test"] else ""
        lines.append(f"Winner: {winner['model']} {format_params(winner['params'])}: {metric} "
                     f"{format_score(winner['value'], winner['se'])} ({winner['how']}){test}")
    lines += record.get("certainty", [])
    for model, counts in record["families"].items():
        common = counts["most_common_error"]
        if counts["failed"] and common:
            where = f" {common['where']}" if common.get("where") else ""
            lines.append(f"Failures in {model}: {counts['failed']} of {counts.get('fits', counts['tasks'])} fits; most "
                         f"common ({common['tasks']}{where}): {common['error_type']}: {_shorten(common['error'])}")
    lines.append(f"Report: {record['report']}")
    return "\n".join(lines)


def _count(value) -> str:
    return "?" if value is None else str(value)


def _shorten(text, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
