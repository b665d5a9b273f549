"""What a run prints: one line for a bad config or input, the summary at the end of a run.

A config or data error stops the run before any job with one line naming the key (or column) and
the file; no Python traceback, which would point into the package instead of at the user's mistake.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import NoReturn

from .. import ConfigError, DataError


def stop(message: str) -> NoReturn:
    """Print ``message`` as the run's one error line and end the run with exit status 1."""
    from snakemake.logging import logger

    logger.error(message)
    raise SystemExit(1)


@contextmanager
def stop_on_bad_input():
    """Turn a ConfigError or DataError raised in the block into :func:`stop`."""
    try:
        yield
    except (ConfigError, DataError) as exc:
        stop(str(exc))


def show_run_summary(path, *, up_to_date: bool = False) -> bool:
    """Print the run summary the run's last job wrote (``results/<name>/run.json``), if there is one.

    ``up_to_date``: nothing ran now; the summary is that of the last run, and says so.
    """
    import json
    from pathlib import Path

    from snakemake.logging import logger

    try:
        record = json.loads(Path(path).read_text())
        text = record["text"]
    except (OSError, ValueError, KeyError):
        return False
    if up_to_date:
        lines = text.splitlines()
        finished = str(record.get("finished", ""))[:16].replace("T", " ")
        lines[0] = (f"Experiment {record.get('experiment')} ({record.get('config_file')}) is up to date: nothing to "
                    f"run. Its last run, finished {finished} UTC:")
        text = "\n".join(lines)
    logger.info("\n" + text)
    return True
