# Prepare the rows used and assign the cross-validation folds once, for every job to read.


rule prepare_data:
    input:
        DATA_SOURCE,
    output:
        data="results/data/data.parquet",
        summary="results/data/summary.json",
    params:
        data=DATA,
        code=CODE["data"],
    log:
        "logs/prepare_data.log",
    run:
        run_task("manymodels.data:prepare_data", **POOL, source=input[0], **params.data, out_data=output.data,
                 out_summary=output.summary, log=log[0])


rule assign_folds:
    input:
        "results/data/data.parquet",
    output:
        "results/data/folds.parquet",
    params:
        cv=config["cv"],
        label=config["data"]["label"],
        code=CODE["data"],
    log:
        "logs/assign_folds.log",
    run:
        run_task("manymodels.data:assign_folds", **POOL, data=input[0], cv=params.cv, label=params.label, out_folds=output[0], log=log[0])
