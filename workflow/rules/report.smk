# Selection plots (also in `snakemake --report`) and the HTML report.


rule plot_metric:
    input:
        "results/summary.parquet",
    output:
        report(
            "results/plots/{model}/{metric}.png",
            caption="../report/plot_metric.rst",
            category="Selection plots",
            subcategory="{model}",
            labels={"model": "{model}", "metric": "{metric}"},
        ),
    params:
        spec=lambda w: METRICS[w.metric],
        x=lambda w: config["models"][w.model].get("plot", {}).get("x"),
        code=CODE["plot"],
    log:
        "logs/plot/{model}/{metric}.log",
    run:
        run_task("manymodels.plots:plot_metric", **POOL, summary=input[0], model=wildcards.model, metric=wildcards.metric,
                 spec=params.spec, x=params.x, out=output[0], log=log[0])


rule write_report:
    input:
        scores="results/scores.parquet",
        summary="results/summary.parquet",
        selection="results/selection.json",
        data_summary="results/data/summary.json",
        plots=plot_files,
    output:
        "results/report.html",
    params:
        metrics=METRICS,
        code=CODE["report"],
    log:
        "logs/write_report.log",
    run:
        run_task("manymodels.report:write_report", **POOL, scores=input.scores, summary=input.summary, selection=input.selection,
                 data_summary=input.data_summary, plots=list(input.plots), metrics=params.metrics,
                 run_marker=RUN_MARKER, out=output[0], log=log[0])
