# Staged searches (manymodels.search): fold racing and successive halving (config keys racing,
# halving) narrow the configurations stage by stage; Bayesian optimisation (models.<name>.optuna)
# proposes them. Each stage ends in a decision, one checkpoint for every search, so Snakemake plans
# the next stage's jobs from it; the plan says what each decision reads and which function makes it.


if PLAN.staged:

    checkpoint stage_decision:
        input:
            unpack(lambda w: PLAN.decision_inputs(w.search, w.stage)),
        output:
            "<results>/{search}/{stage}.json",
        log:
            "<logs>/{search}/{stage}.log",
        params:
            decision=lambda w: PLAN.decision_params(w.search, w.stage),
        run:
            run_task(
                params.decision["function"],
                **POOL,
                **{name: [str(path) for path in getattr(input, name)] for name in input.keys()},
                **params.decision["kwargs"],
                out=output[0],
                log=log[0],
            )

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
