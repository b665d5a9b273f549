"""Where a staged search (fold racing, successive halving) stopped each configuration, from its
decisions: what the score tables and the report say about the configurations dropped early."""

from __future__ import annotations

import pandas as pd

from ..task.io import read_json


def stage_outcome(decision_files: list[str]) -> pd.DataFrame:
    """Where each configuration stopped: one row per dropped configuration (model, config_id,
    stopped_at, stop_reason), from the decisions of fold racing (in fold order: 'before fold 3')
    or of successive halving (in rung order: 'rung 1 (1/9 of the training rows)')."""
    rows = []
    for path in decision_files:
        decision = read_json(path)
        where = (f"rung {decision['rung']} ({decision['describe']})" if "rung" in decision
                 else f"before fold {decision['fold']}")
        rows += [{"model": d["model"], "config_id": d["config_id"], "stopped_at": where, "stop_reason": d["reason"]}
                 for d in decision["dropped"]]
    return pd.DataFrame(rows, columns=["model", "config_id", "stopped_at", "stop_reason"])
