"""What defines an experiment: config checks, grids and search spaces, task identity, estimators,
metrics, data sources and folds. Nothing here imports from the other rooms."""
