# Fold racing (config key racing) and successive halving (config key halving): before each CV fold after the burn-in, a decision drops the
# configurations significantly worse than their family's current best; only the others are fitted
# on that fold. Successive halving: after each rung, the best 1/factor of each family go on to the
# next rung, with factor times the resource. Each decision is a checkpoint, so Snakemake plans the
# next stage's jobs from it.


if RACE_FOLDS:

    checkpoint race_decision:
        input:
            race_inputs,
        output:
            "<results>/race/fold-{race_fold}.json",
        log:
            "<logs>/race/fold-{race_fold}.log",
        params:
            metric=selection_metric(config),
            spec=METRICS[selection_metric(config)],
            names=list(METRICS),
            alpha=RACING["alpha"],
            code=CODE["aggregate"],
        run:
            run_task(
                "manymodels.results.racing:race_decision",
                **POOL,
                score_files=list(input),
                metric_names=params.names,
                metric=params.metric,
                greater_is_better=params.spec["greater_is_better"],
                alpha=params.alpha,
                fold=wildcards.race_fold,
                out=output[0],
                log=log[0],
            )


if HALVING:

    checkpoint halving_decision:
        input:
            halving_inputs,
        output:
            "<results>/halving/rung-{rung}.json",
        log:
            "<logs>/halving/rung-{rung}.log",
        params:
            metric=selection_metric(config),
            spec=METRICS[selection_metric(config)],
            names=list(METRICS),
            factor=HALVING["factor"],
            code=CODE["aggregate"],
        run:
            run_task(
                "manymodels.results.halving:halving_decision",
                **POOL,
                score_files=list(input),
                metric_names=params.names,
                metric=params.metric,
                greater_is_better=params.spec["greater_is_better"],
                factor=params.factor,
                rung=int(wildcards.rung),
                out=output[0],
                log=log[0],
            )


if RACE_FOLDS or HALVING:

    rule plot_race:
        input:
            scores="<results>/scores.parquet",
            summary="<results>/summary.parquet",
            selection="<results>/selection.json",
            decisions=stage_decisions,
        output:
            report("<results>/plots/race.png", caption="../report/plot_race.rst", category="Selection plots"),
        log:
            "<logs>/plot/race.log",
        params:
            metric=selection_metric(config),
            spec=METRICS[selection_metric(config)],
            code=CODE["plot"],
        run:
            run_task(
                "manymodels.results.racing:plot_race",
                **POOL,
                scores=input.scores,
                summary=input.summary,
                selection=input.selection,
                decisions=list(input.decisions),
                metric=params.metric,
                spec=params.spec,
                out=output[0],
                log=log[0],
            )
