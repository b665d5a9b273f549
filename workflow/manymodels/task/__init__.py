"""What one job does: prepare the data, fit one configuration on one fold, score it, learn from a
stream; the transformers of our own; atomic artifact I/O. Uses :mod:`manymodels.experiment` only.

Importing this package imports nothing heavy: the nothing-to-do shortcut uses :mod:`.io` before
the workflow loads anything else."""
