"""How numbers and configurations are written for people: in the console summary and the report."""

from __future__ import annotations

import json
import math


def format_number(value, *, digits: int = 4) -> str:
    """A score with enough digits to tell close values apart, never in exponent notation for the
    sizes scores have (BIC 10523.4 and 10561.9, not 1.052e+04 and 1.056e+04)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    magnitude = abs(value)
    if magnitude == 0 or 1e-3 <= magnitude < 1e6:
        decimals = max(digits - 1 - int(math.floor(math.log10(magnitude))), 1) if magnitude else digits
        return f"{value:.{decimals}f}"
    return f"{value:.{digits}g}"


def format_value(value) -> str:
    """A hyperparameter value as the config would write it."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, dict) else str(value)


def format_params(params: dict) -> str:
    """``n_components=3, covariance_type=full``; '(no parameters)' for an empty grid point."""
    return ", ".join(f"{name}={format_value(value)}" for name, value in params.items()) or "(no parameters)"


def format_score(value, sem=None) -> str:
    """A mean with its standard error: ``0.8123 ± 0.0154``."""
    text = format_number(value)
    if sem is not None and not (isinstance(sem, float) and math.isnan(sem)):
        text += f" ± {format_number(sem, digits=2)}"
    return text


def format_bytes(size) -> str:
    """A file size people read at a glance: 812 B, 23.4 kB, 1.2 MB."""
    size = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


# The summary column of the uncertainty people are shown (<metric>_se_corrected): the corrected
# standard error of a CV mean; <metric>_sem, the naive one, is kept for those who want it.
SE_SUFFIX = "_se_corrected"


def uncertainty_note(*, by: str, n_folds: int | None = None, progressive: bool = False) -> str:
    """What a shown score and its ``±`` are: a CV mean with its corrected standard error, an
    in-sample value of one fit (``by`` ends in ``_full``), or a streaming fit's progressive score."""
    if by.endswith("_full"):
        return "in-sample, on the fit on all training rows: one fit, no folds, no standard error"
    if progressive:
        return "progressive validation over the whole stream: one fit, no folds, no standard error"
    if n_folds is not None and n_folds < 2:
        return f"mean over {n_folds} CV fold{'s' if n_folds != 1 else ''}: no standard error"
    folds = f"{n_folds} CV folds" if n_folds else "CV folds"
    return f"mean ± corrected standard error over {folds}"
