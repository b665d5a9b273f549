# What the jobs with many arguments hand to the pool of warm workers (rule bodies stay one line).


def fit_job(function, fold, wildcards, input, output, params, log):
    """Fit one (configuration, fold); a fit that raised is a row with its error, which the console counts."""
    outcome = run_task(
        function,
        **POOL,
        model=wildcards.model,
        config_id=wildcards.config_id,
        fold=fold,
        **params.fit["task"],
        **params.data,
        **params.fit["streaming"],
        data=input.data,
        folds=input.get("folds"),
        out_model=output.model,
        out_meta=output.meta,
        log=log[0],
    )
    if outcome["status"] != "ok":
        note_fit_failure()


def score_job(input, output, params, log):
    run_task(
        "manymodels.task.score:score_task",
        **POOL,
        metrics=params.metrics,
        **params.data,
        data=input.data,
        folds=input.get("folds"),
        fit_model=input.model,
        fit_meta=input.meta,
        out_scores=output[0],
        log=log[0],
    )


def select_job(input, output, params, log):
    run_task(
        "manymodels.results.selection:select_configurations",
        **POOL,
        summary=input.summary,
        scores=input.scores,
        **{key: value for key, value in params.items() if key != "code"},
        out=output.selection,
        out_comparisons=output.comparisons,
        log=log[0],
    )


def test_plot_job(input, output, params, log):
    run_task(
        "manymodels.results.plots:plot_test_predictions",
        **POOL,
        selection=input.selection,
        model_file=input.get("model"),
        model_meta=input.get("meta"),
        data=input.data,
        holdout=input.holdout,
        **params.data,
        out=output[0],
        log=log[0],
    )


def report_job(input, output, params, log):
    run_task(
        "manymodels.results.report:write_report",
        **POOL,
        scores=input.scores,
        summary=input.summary,
        selection=input.selection,
        comparisons=input.comparisons,
        data_summary=input.data_summary,
        plots=list(input.plots),
        refit_scores=list(input.refit_scores),
        nested=list(input.nested),
        race=list(input.race),
        metrics=params.metrics,
        run_marker=str(run_marker(EXPERIMENT)),
        out=output.report,
        out_selection=output.selection,
        out_tables=output.tables,
        out_failures=output.failures,
        log=log[0],
    )


def summary_job(input, output, params, log):
    """Write the run summary; a family whose every fit failed fails the job (and so the run)."""
    outcome = run_task(
        "manymodels.results.summary:summarise_run",
        **POOL,
        scores=input.scores,
        summary=input.summary,
        selection=input.selection,
        report_file=input.report_file,
        refit_scores=list(input.refit_scores),
        nested=list(input.nested),
        experiment=params.experiment,
        config_file=params.config_file,
        run_marker=str(run_marker(EXPERIMENT)),
        out=output[0],
        log=log[0],
    )
    if outcome["error"]:
        raise WorkflowError(outcome["error"])
