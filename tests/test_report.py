"""The report's ranking of the families: the score each choice was made by is shown."""

import math

import pandas as pd

from manymodels.results.report import ranking_table

SUMMARY = pd.DataFrame({
    "model": ["gmm", "kmeans"], "config_id": ["aaaaaaaaaa", "bbbbbbbbbb"],
    "silhouette_full": [0.5315, 0.5301], "ars_mean": [0.61, 0.59], "ars_sem": [0.01, math.nan],
    "ars_se_corrected": [0.02, math.nan],
})


def choices(metric):
    return {"selection_metric": metric, "models": {
        model: {"chosen": {"config_id": cid, "params": {"k": 2}, "value": float(SUMMARY.loc[i, column])}}
        for i, (model, cid) in enumerate(zip(SUMMARY["model"], SUMMARY["config_id"]))
        for column in [f"{metric}_full" if metric == "silhouette" else f"{metric}_mean"]}}


def test_a_choice_by_an_in_sample_metric_shows_that_value():
    table = ranking_table(SUMMARY, choices("silhouette"), {"silhouette": {"on": "train", "greater_is_better": True}})
    assert table["silhouette (in-sample, fit on all rows)"].tolist() == ["0.5315", "0.5301"]


def test_a_choice_by_cv_shows_mean_and_corrected_standard_error():
    table = ranking_table(SUMMARY, choices("ars"), {"ars": {"on": "test", "greater_is_better": True}})
    assert table["CV ars (mean ± corrected SE)"].tolist() == ["0.6100 ± 0.020", "0.5900"]
