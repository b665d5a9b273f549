# Which experiment this run is, and where its files live. One config file is one experiment:
# results/<name>/ and logs/<name>/, the name from the config's `name:` key, else the config file's
# stem. Rules write their paths as <results>/... and <logs>/... (Snakemake's path variables).

import os
import sys

sys.path.insert(0, str(Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent))

from manymodels.engine.console import stop_on_bad_input
from manymodels.experiment.data import resolve_data_path
from manymodels.experiment.layout import config_file_of, experiment_name, logs_dir, results_dir
from manymodels.experiment.schema import normalise_keys

CONFIG_FILE = os.path.normpath(config_file_of(workflow.overwrite_configfiles))
# Modules of your own beside the config file (an estimator, a factory, a transformer, a metric)
# import by name: the config's folder is on the import path of this process, of the pool workers
# (which start with it) and of cluster jobs (whose Snakemake reads this file too). Appended, so a
# module there never shadows an installed package.
if (_config_dir := os.path.dirname(os.path.abspath(CONFIG_FILE))) not in sys.path:
    sys.path.append(_config_dir)
with stop_on_bad_input():
    # Before anything reads the config: keys as text (YAML reads `on:` as true), and a data file's
    # path looked up beside the config file first.
    normalise_keys(config, config_file=CONFIG_FILE)
    resolve_data_path(config, config_file=CONFIG_FILE)
    EXPERIMENT = experiment_name(config, CONFIG_FILE)


pathvars:
    results=str(results_dir(EXPERIMENT)),
    logs=str(logs_dir(EXPERIMENT)),
