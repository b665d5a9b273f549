"""What the tables say of a staged search, from its decisions: where fold racing or successive
halving stopped each configuration dropped early, and which trials of Bayesian optimisation
proposed each configuration."""

from __future__ import annotations

import importlib
from typing import Callable

import pandas as pd

from ..task.io import read_json


def stage_outcome(decision_files: list[str]) -> pd.DataFrame:
    """Where each configuration stopped: one row per dropped configuration (model, config_id,
    stopped_at, stop_reason), from the decisions of fold racing (in fold order: 'before fold 3')
    or of successive halving (in rung order: 'rung 1 (1/9 of the training rows)')."""
    rows = []
    for path in decision_files:
        decision = read_json(path)
        if "batch" in decision:  # Bayesian optimisation drops nothing
            continue
        where = (f"rung {decision['rung']} ({decision['describe']})" if "rung" in decision
                 else f"before fold {decision['fold']}")
        rows += [{"model": d["model"], "config_id": d["config_id"], "stopped_at": where, "stop_reason": d["reason"]}
                 for d in decision["dropped"]]
    return pd.DataFrame(rows, columns=["model", "config_id", "stopped_at", "stop_reason"])


def proposed(decision_files: list[str]) -> tuple[list[dict], pd.DataFrame]:
    """The configurations Bayesian optimisation's decisions proposed (each once, in trial order), and
    per configuration the first trial that proposed it and how many did (model, config_id, trial, n_trials)."""
    configs, rows = {}, {}
    for path in decision_files:
        decision = read_json(path)
        if "batch" not in decision:
            continue
        for record in decision["configurations"]:
            configs.setdefault((record["model"], record["config_id"]), record)
        for trial in decision["trials"]:
            key = (decision["model"], trial["config_id"])
            first, count = rows.get(key, (trial["number"], 0))
            rows[key] = (min(first, trial["number"]), count + 1)
    table = pd.DataFrame([{"model": m, "config_id": c, "trial": first, "n_trials": n}
                          for (m, c), (first, n) in rows.items()], columns=["model", "config_id", "trial", "n_trials"])
    return list(configs.values()), table


def stage_function(decisions: list[dict], kind: str) -> Callable | None:
    """The function a search's decisions name for its report section or plot ('report_section',
    'plot': ``module:function``), or None for the built-in ones (fold racing, successive halving)."""
    if not decisions or kind not in decisions[0]:
        return None
    module, _, name = decisions[0][kind].partition(":")
    return getattr(importlib.import_module(module), name)
