# Fold racing (config key racing) and successive halving (config key halving): before each CV fold after the burn-in, a decision drops the
# configurations significantly worse than their family's current best; only the others are fitted
# on that fold. Successive halving: after each rung, the best 1/factor of each family go on to the
# next rung, with factor times the resource. Each decision is a checkpoint, so Snakemake plans the
# next stage's jobs from it.


if PLAN.race_folds:

    checkpoint race_decision:
        input:
            lambda w: PLAN.race_inputs(w.race_fold),
        output:
            "<results>/race/fold-{race_fold}.json",
        log:
            "<logs>/race/fold-{race_fold}.log",
        params:
            metric=PLAN.selection_metric,
            spec=PLAN.metrics[PLAN.selection_metric],
            names=list(PLAN.metrics),
            alpha=PLAN.racing["alpha"],
            code=PLAN.code["aggregate"],
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


if PLAN.halving:

    checkpoint halving_decision:
        input:
            lambda w: PLAN.halving_inputs(int(w.rung)),
        output:
            "<results>/halving/rung-{rung}.json",
        log:
            "<logs>/halving/rung-{rung}.log",
        params:
            metric=PLAN.selection_metric,
            spec=PLAN.metrics[PLAN.selection_metric],
            names=list(PLAN.metrics),
            factor=PLAN.halving["factor"],
            code=PLAN.code["aggregate"],
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


if PLAN.staged:

    rule plot_race:
        input:
            scores="<results>/scores.parquet",
            summary="<results>/summary.parquet",
            selection="<results>/selection.json",
            decisions=lambda w: PLAN.stage_decisions(),
        output:
            report("<results>/plots/race.png", caption="../report/plot_race.rst", category="Selection plots"),
        log:
            "<logs>/plot/race.log",
        params:
            metric=PLAN.selection_metric,
            spec=PLAN.metrics[PLAN.selection_metric],
            code=PLAN.code["plot"],
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
