"""Successive halving's decisions: after each rung, the best 1 / factor of each family go on.

A rung's configurations were fitted on every CV fold with the rung's resource (see
:mod:`manymodels.experiment.halving`) and scored on the whole test folds; they are ranked by mean
CV score within their family, and the best ``ceil(n / factor)`` go on to the next rung, on the same
folds, as scikit-learn's HalvingGridSearchCV does. Each decision is ``halving/rung-<r>.json``.
"""

from __future__ import annotations

import math

import numpy as np

from ..experiment.halving import describe_resource, split_fold
from ..task.io import read_json, write_json
from .aggregate import fit_tally, read_score_table


def halving_decision(*, score_files: list[str], metric_names: list[str], metric: str, greater_is_better: bool,
                     factor: int, rung: int, out: str) -> str:
    """Rank the configurations of a rung (those whose score files are given) within each family
    and keep the best ``1 / factor`` of each for the next rung; write the decision to ``out``."""
    scores = read_score_table(score_files, metric_names, check_identity=True).to_pandas()
    resource = split_fold(scores["fold"].iloc[0])[1]
    sign = 1 if greater_is_better else -1
    means = scores.groupby(["model", "config_id"], sort=False)[metric].mean()  # NaN when every fit failed
    rows = scores.groupby(["model", "config_id"], sort=False)["n_train"].median()
    survivors, dropped = [], []
    for model, values in means.groupby(level="model", sort=False):
        order = (sign * values).fillna(-np.inf).sort_values(ascending=False, kind="stable")
        keep = math.ceil(len(order) / factor)
        for rank, ((_, config_id), value) in enumerate(zip(order.index, values[order.index]), start=1):
            entry = {"model": model, "config_id": config_id, "mean": None if np.isnan(value) else float(value),
                     "rank": rank}
            if np.isnan(value):  # never promoted, whatever room the quota leaves
                n = rows.get((model, config_id))
                about = f" (about {n:.0f} rows)" if n is not None and not np.isnan(n) else ""
                dropped.append(entry | {"reason": f"every fit failed with {describe_resource(resource)}{about}"})
            elif rank <= keep:
                survivors.append(entry)
            else:
                dropped.append(entry | {"reason": f"rank {rank} of {len(order)} in {model} with "
                                                  f"{describe_resource(resource)}; the best {keep} went on"})
    # The survivors' fits at this rung are in no table (the tables hold each configuration at the last
    # rung it reached): counted here, so that every fit is counted once.
    went_on = {(e["model"], e["config_id"]) for e in survivors}
    kept = scores[[key in went_on for key in zip(scores["model"], scores["config_id"])]]
    write_json({"rung": rung, "resource": resource, "describe": describe_resource(resource), "metric": metric,
                "factor": factor, "survivors": survivors, "dropped": dropped, "superseded_fits": fit_tally(kept)},
               out)
    return f"rung {rung} ({describe_resource(resource)}): {len(survivors)} go on, {len(dropped)} dropped"
