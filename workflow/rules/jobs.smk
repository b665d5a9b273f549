# What the jobs with many arguments hand to the pool of warm workers (rule bodies stay one line). A
# fit or score job's task is a TaskCall, built from the job alone, so that the manymodels executor
# plugin can hand it to the pool itself, without a thread per job (manymodels.engine.dispatch).


def fit_call(fold, wildcards, input, output, params, log, function=None):
    """A fit of one (configuration, fold); a fit that raised, crashed its worker or ran past a limit is
    a row with its error, which the console counts. With model_format: skops the same fit function
    runs, and its model is kept as a skops file."""
    # A fit on a shared pipeline prefix (workflow/rules/prefix.smk) fits its final step alone.
    prefix = {key: plain(input.get(key)) for key in PREFIX_INPUTS} if input.get("prefix_meta") else {}
    function = function or ("manymodels.task.prefix:fit_final_task" if prefix else PLAN.fit_function(fold))
    skops = PLAN.model_format == "skops"
    return TaskCall(
        "manymodels.task.model_files:fit_to_skops" if skops else function,
        dict(
            **({"fit_function": function} if skops else {}),
            model=wildcards.model,
            config_id=wildcards.config_id,
            fold=fold,
            **params.fit["task"],
            **params.data,
            **params.fit["streaming"],
            data=plain(input.data),
            folds=plain(input.get("folds")),
            out_model=plain(output.model),
            out_meta=plain(output.meta),
            **prefix,
        ),
        POOL,
        log=plain(log[0]),
        limits=FIT_LIMITS[wildcards.model],
        failed_fit=dict(
            model=wildcards.model,
            config_id=wildcards.config_id,
            fold=fold,
            out_model=plain(output.model),
            out_meta=plain(output.meta),
        ),
        on_outcome=count_fit_failure,
        **({"failed_fit_function": "manymodels.task.model_files:record_failed_fit"} if skops else {}),
    )


PREFIX_INPUTS = ("prefix_model", "prefix_train", "prefix_meta")
PREFIX_OUTPUTS = ("prefix_train", "prefix_test", "prefix_meta")


def prefix_call(wildcards, input, output, params, log):
    """A shared prefix on one fold: fitted once, its output read by each of its configurations' fits; a
    crash or a limit fails it as data (each of those fits then fails with its error)."""
    files = dict(
        out_model=plain(output.model),
        out_train=plain(output.train),
        out_test=plain(output.test),
        out_meta=plain(output.meta),
    )
    return TaskCall(
        "manymodels.task.prefix:fit_prefix_task",
        dict(
            model=wildcards.model,
            prefix_id=wildcards.prefix_id,
            fold=wildcards.fold,
            **params.prefix["task"],
            **params.data,
            data=plain(input.data),
            folds=plain(input.get("folds")),
            **files,
        ),
        POOL,
        log=plain(log[0]),
        limits=FIT_LIMITS[wildcards.model],
        failed_fit=dict(model=wildcards.model, prefix_id=wildcards.prefix_id, fold=wildcards.fold, **files),
        failed_fit_function="manymodels.task.prefix:record_failed_prefix",
    )


def count_fit_failure(outcome):
    if outcome["status"] != "ok":
        note_fit_failure()


def score_call(wildcards, input, output, params, log):
    # A fit on a shared pipeline prefix scores its final step on the prefix's stored output.
    prefix = {key: plain(input.get(key)) for key in PREFIX_OUTPUTS} if input.get("prefix_meta") else {}
    return TaskCall(
        "manymodels.task.prefix:score_final_task" if prefix else "manymodels.task.score:score_task",
        dict(
            metrics=params.metrics,
            **params.data,
            data=plain(input.data),
            folds=plain(input.get("folds")),
            fit_model=plain(input.model),
            fit_meta=plain(input.meta),
            out_scores=plain(output[0]),
            **prefix,
        ),
        POOL,
        log=plain(log[0]),
        urgent=True,  # its fit is done: score it before fits that wait, so its model can go (keep_models)
    )


def plain(path):
    """A path as a plain string (a job's files are Snakemake objects that carry flags)."""
    return None if path is None else str(path)


register(
    "fit_model", lambda job: fit_call(job.wildcards.fold, job.wildcards, job.input, job.output, job.params, job.log)
)
register("fit_prefix", lambda job: prefix_call(job.wildcards, job.input, job.output, job.params, job.log))
register("score_model", lambda job: score_call(job.wildcards, job.input, job.output, job.params, job.log))


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


def outer_fold_job(wildcards, input, output, params, log):
    """Nested CV: one outer fold chooses from its inner folds, refits its choice and scores it."""
    run_task(
        "manymodels.results.nested:evaluate_outer_fold",
        **POOL,
        outer=f"o{wildcards.outer}",
        score_files=list(input.scores),
        configs=params.configs,
        **params.selection,
        **params.data,
        model_format=params.model_format,
        data=input.data,
        folds=input.folds,
        out=output[0],
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
        race=list(input.race),
        metrics=params.metrics,
        keep_models=params.keep_models,
        experiment=params.experiment,
        config_file=params.config_file,
        run_marker=str(run_marker(EXPERIMENT)),
        out=output[0],
        log=log[0],
    )
    if outcome["error"]:
        raise WorkflowError(outcome["error"])
