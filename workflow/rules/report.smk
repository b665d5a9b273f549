# Selection plots (also in `snakemake --report`) and the HTML report.


rule plot_metric:
    input:
        summary="<results>/summary.parquet",
        scores="<results>/scores.parquet",
        selection="<results>/selection.json",
        comparisons="<results>/comparisons.parquet",
    output:
        report(
            "<results>/plots/{model}/{metric}.png",
            caption="../report/plot_metric.rst",
            category="Selection plots",
            subcategory="{model}",
            labels={"model": "{model}", "metric": "{metric}"},
        ),
    log:
        "<logs>/plot/{model}/{metric}.log",
    params:
        spec=lambda w: PLAN.metrics[w.metric],
        x=lambda w: config["models"][w.model].get("plot", {}).get("x"),
        code=PLAN.code["plot"],
    run:
        run_task(
            "manymodels.results.plots:plot_metric",
            **POOL,
            summary=input.summary,
            scores=input.scores,
            model=wildcards.model,
            metric=wildcards.metric,
            spec=params.spec,
            x=params.x,
            selection=input.selection,
            comparisons=input.comparisons,
            out=output[0],
            log=log[0],
        )


rule plot_cv_scores:
    input:
        scores="<results>/scores.parquet",
        selection="<results>/selection.json",
        comparisons="<results>/comparisons.parquet",
    output:
        report("<results>/plots/cv_scores.png", caption="../report/plot_cv_scores.rst", category="Selection plots"),
    log:
        "<logs>/plot/cv_scores.log",
    params:
        metric=PLAN.selection_metric,
        spec=PLAN.metrics[PLAN.selection_metric],
        code=PLAN.code["plot"],
    run:
        run_task(
            "manymodels.results.plots:plot_cv_scores",
            **POOL,
            scores=input.scores,
            selection=input.selection,
            comparisons=input.comparisons,
            metric=params.metric,
            spec=params.spec,
            out=output[0],
            log=log[0],
        )


rule plot_families:
    input:
        scores="<results>/scores.parquet",
        summary="<results>/summary.parquet",
        selection="<results>/selection.json",
        comparisons="<results>/comparisons.parquet",
    output:
        report("<results>/plots/families.png", caption="../report/plot_families.rst", category="Selection plots"),
    log:
        "<logs>/plot/families.log",
    params:
        metric=PLAN.selection_metric,
        spec=PLAN.metrics[PLAN.selection_metric],
        code=PLAN.code["plot"],
    run:
        run_task(
            "manymodels.results.plots:plot_families",
            **POOL,
            scores=input.scores,
            summary=input.summary,
            selection=input.selection,
            comparisons=input.comparisons,
            metric=params.metric,
            spec=params.spec,
            out=output[0],
            log=log[0],
        )


rule plot_test_predictions:
    input:
        unpack(lambda w: PLAN.winner_full_model()),
        selection="<results>/selection.json",
        data="<results>/data/data.parquet",
        holdout="<results>/data/holdout.parquet",
    output:
        report(
            "<results>/plots/test_predictions.png",
            caption="../report/plot_test_predictions.rst",
            category="Held-out test set",
        ),
    log:
        "<logs>/plot/test_predictions.log",
    params:
        data=PLAN.data,
        code=PLAN.code["plot"],
    run:
        test_plot_job(input, output, params, log)


rule write_report:
    input:
        scores="<results>/scores.parquet",
        summary="<results>/summary.parquet",
        selection="<results>/selection.json",
        comparisons="<results>/comparisons.parquet",
        data_summary="<results>/data/summary.json",
        plots=lambda w: PLAN.plot_files(),
        refit_scores=lambda w: PLAN.refit_scores(),
        nested=lambda w: PLAN.nested_files(),
        race=lambda w: PLAN.stage_decisions(),
    output:
        report="<results>/report.html",
        # The same selection text, configuration tables and failures, as pages of snakemake --report.
        selection=report("<results>/report/selection.html", caption="../report/selection.rst", category="Selection"),
        tables=report("<results>/report/configurations.html", caption="../report/configurations.rst", category="Tables"),
        failures=report("<results>/report/failures.html", caption="../report/failures.rst", category="Tables"),
    log:
        "<logs>/write_report.log",
    params:
        metrics=PLAN.metrics,
        code=PLAN.code["report"],
    run:
        report_job(input, output, params, log)


rule summarise_run:
    """What ran, what was reused, what failed and what was chosen: results/<name>/run.json, printed
    at the end of the run. A family whose every fit failed fails this job (after the report)."""
    input:
        scores="<results>/scores.parquet",
        summary="<results>/summary.parquet",
        selection="<results>/selection.json",
        report_file="<results>/report.html",
        refit_scores=lambda w: PLAN.refit_scores(),
        nested=lambda w: PLAN.nested_files(),
        race=lambda w: PLAN.stage_decisions(),
    output:
        "<results>/run.json",
    log:
        "<logs>/summarise_run.log",
    params:
        experiment=EXPERIMENT,
        config_file=CONFIG_FILE,
        metrics=PLAN.metrics,
        keep_models=config["keep_models"],
        code=PLAN.code["report"],
    run:
        summary_job(input, output, params, log)
