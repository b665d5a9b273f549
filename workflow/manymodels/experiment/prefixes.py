"""Shared pipeline prefixes: which configurations fit their pipeline's steps before the last once
per fold, as a job of their own, instead of once per configuration.

A family whose ``pipeline`` has steps before its final estimator refits those steps for every
configuration, although every configuration that gives them the same parameters fits them to the
same rows. Here each (configuration, fold) that can share is given the identity of its prefix: a
short hash of the prefix steps' definitions (with their kwargs) and of the family's fixed kwargs and
grid point that belong to those steps (``step__param`` of a step before the last). The fold and the
data are the prefix job's path and inputs. Everything is decided from the config, before any job:
for a family whose configurations a search proposes as it goes (Bayesian optimisation's trials),
one prefix for all of them when the search sets only the final step (:func:`proposed_prefix`).

A configuration fits as before (no shared prefix) when its family sets ``share_prefix: false``, the
experiment streams or keeps its models as skops files (a prefix's fitted steps are a joblib file), the family has ``fit_kwargs`` (routed to steps by name), a step of its prefix
has a ``random_state`` left unset (each configuration derives its own seed from its config id, so
its prefix is its own), or the prefix's output would hold more than ``max_cells`` numbers (rows x
columns; see :func:`estimated_cells`).
"""

from __future__ import annotations

import hashlib

from .tasks import CONFIG_ID_LENGTH, canonical_json

# Rows x columns of a prefix's output above which it is not kept on disk (80 million float64 numbers:
# about 640 MB for the training rows of one fold).
PREFIX_MAX_CELLS = 80_000_000


def prefix_steps(estimator) -> list[dict] | None:
    """The steps before the final estimator (None: not a pipeline, or a pipeline of one step)."""
    if isinstance(estimator, list) and len(estimator) >= 2:
        return estimator[:-1]
    return None


def prefix_options(steps: list[dict], kwargs: dict, params: dict) -> dict:
    """The configuration's options (fixed kwargs, then grid point) that set parameters of ``steps``."""
    names = {step["name"] for step in steps}
    return {key: value for key, value in {**kwargs, **params}.items()
            if "__" in key and key.split("__", 1)[0] in names}


def prefix_id(steps: list[dict], options: dict) -> str:
    """Short stable hash of a prefix: its steps (with their kwargs) and the options that set them."""
    text = canonical_json({"prefix": steps, "options": options})
    return hashlib.sha256(text.encode()).hexdigest()[:CONFIG_ID_LENGTH]


def has_derived_seed(steps: list[dict], options: dict) -> bool:
    """Whether a step of the prefix has a random_state that the fit would derive from the config id."""
    from .estimators import make_estimator

    params = make_estimator(steps, options).get_params(deep=True)
    return any((name == "random_state" or name.endswith("__random_state")) and value is None
               and name not in options for name, value in params.items())


def estimated_cells(steps: list[dict], options: dict, *, n_rows: int, n_features: int) -> int:
    """Rows x columns of a prefix's output, estimated before it runs: every row of the data, times
    the last prefix step's ``n_components`` when it sets one (a grid value, a kwarg), otherwise the
    number of feature columns (a scaler's, an imputer's output). An encoder that widens its input
    more than that is underestimated: set ``share_prefix: false`` for it if its output is large."""
    last = steps[-1]
    width = options.get(f"{last['name']}__n_components", (last.get("kwargs") or {}).get("n_components"))
    columns = width if isinstance(width, int) and not isinstance(width, bool) and width > 0 else n_features
    return n_rows * columns


def shared_prefixes(config: dict, tasks: list[dict], *, n_features: int, n_rows: int | None,
                    max_cells: int = PREFIX_MAX_CELLS) -> dict[tuple[str, str], dict]:
    """For each (model, config_id) that shares its prefix: ``prefix_id``, ``steps`` and ``options``.

    ``n_rows``: the data's rows (None: unknown, then no size limit applies).
    """
    shared: dict[tuple[str, str], dict] = {}
    seeded: dict[str, bool] = {}
    for task in tasks:
        prefix = _shareable(config, task["model"], task["estimator"], task["kwargs"], task["params"],
                            task.get("fit_kwargs"), n_features=n_features, n_rows=n_rows, max_cells=max_cells,
                            seeded=seeded)
        if prefix:
            shared[(task["model"], task["config_id"])] = prefix
    return shared


def proposed_prefix(config: dict, model: str, searched: set[str], *, n_features: int, n_rows: int | None,
                    max_cells: int = PREFIX_MAX_CELLS) -> dict | None:
    """The prefix every configuration of a family shares when a search proposes them as it goes
    (Bayesian optimisation's trials) and sets only ``searched`` parameters: when none of those is a
    prefix step's, the family's fixed kwargs alone set its prefix, the same for every trial. None: the
    trials fit as a whole (a searched parameter of a prefix step, or a reason of :func:`shared_prefixes`)."""
    from .tasks import estimator_definition

    spec = config["models"][model]
    estimator = estimator_definition(spec)
    steps = prefix_steps(estimator)
    if steps is None or prefix_options(steps, {}, dict.fromkeys(searched)):
        return None
    return _shareable(config, model, estimator, spec.get("kwargs") or {}, {}, spec.get("fit_kwargs"),
                      n_features=n_features, n_rows=n_rows, max_cells=max_cells, seeded={})


def _shareable(config: dict, model: str, estimator, kwargs: dict, params: dict, fit_kwargs, *, n_features: int,
               n_rows: int | None, max_cells: int, seeded: dict[str, bool]) -> dict | None:
    """The prefix a configuration shares (``prefix_id``, ``steps``, ``options``), or None when it fits
    as a whole. ``seeded`` remembers, per prefix_id, whether a step of it derives its seed."""
    if config.get("streaming") or config.get("model_format") == "skops":  # a prefix is kept as joblib
        return None
    steps = prefix_steps(estimator)
    if steps is None or config["models"][model].get("share_prefix", True) is False or fit_kwargs:
        return None
    options = prefix_options(steps, kwargs, params)
    pid = prefix_id(steps, options)
    if pid not in seeded:
        seeded[pid] = has_derived_seed(steps, options)
    if seeded[pid]:
        return None
    if n_rows is not None and estimated_cells(steps, options, n_rows=n_rows, n_features=n_features) > max_cells:
        return None
    return {"prefix_id": pid, "steps": steps, "options": options}


def data_rows(source) -> int | None:
    """The number of rows of a data source, read cheaply (a file's metadata, a generator's
    ``n_samples``); None when it cannot be told without reading the data."""
    from pathlib import Path

    if isinstance(source, dict):
        kwargs = source.get("kwargs") or {}
        return int(kwargs.get("n_samples", 100)) if source.get("generator", "").startswith("make_") else None
    if not isinstance(source, str):
        return None
    try:
        if source == "penguins" or source.startswith("sklearn:"):
            from .data import load_source

            return len(load_source(source))
        path = Path(source)
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        if path.suffix.lower() == ".csv":
            with open(path, "rb") as fh:
                return max(0, sum(1 for _ in fh) - 1)
    except Exception:  # a source the config check will name; no size limit meanwhile
        return None
    return None
