"""Close matches for misspelt names: keys, metrics, estimator classes, parameters, columns, splitters."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Up to this many valid names are listed when none is close to the misspelt one.
LIST_AT_MOST = 12
# Suggestions are kept when their similarity is within this of the closest one's.
CLOSE_TO_BEST = 0.1


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint for a name that is not one of ``candidates``: "did you mean 'x'?" for the closest ones,
    else the valid names when there are few; empty when there is nothing useful to say."""
    names = sorted({str(c) for c in candidates})
    close = difflib.get_close_matches(str(word), names, n=3, cutoff=0.6)
    if close:  # only those about as close as the closest ('bill_length_mm', not also 'bill_depth_mm')
        best = difflib.SequenceMatcher(None, str(word), close[0]).ratio()
        close = [c for c in close if difflib.SequenceMatcher(None, str(word), c).ratio() >= best - CLOSE_TO_BEST]
    if not close:  # a case slip ('KFOLD') or a prefix ('n_comp') is still worth a hint
        close = [n for n in names if n.lower() == str(word).lower()] or (
            [n for n in names if n.startswith(str(word))][:3] if len(str(word)) >= 3 else [])
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if 0 < len(names) <= LIST_AT_MOST:
        return "valid: " + ", ".join(names)
    return ""


def with_hint(message: str, word: str, candidates: Iterable[str]) -> str:
    """``message`` followed by the :func:`did_you_mean` hint, if there is one."""
    hint = did_you_mean(word, candidates)
    return f"{message}; {hint}" if hint else message
