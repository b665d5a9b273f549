"""The run summary: counts per family, the chosen configurations, and all-failed families as errors."""

import pandas as pd

from manymodels.results.formatting import format_number, format_params, format_score
from manymodels.results.summary import all_failed_message, counts_line, extra_fits, family_counts, format_summary

STARTED = "2026-01-01T12:00:00+00:00"


def scores():
    rows = []
    for model, status, error in (("gmm", "ok", None), ("svc", "failed", "C must be > 0. Got -1.0")):
        for i, fold in enumerate(["0", "1", "full"]):
            rows.append({"model": model, "config_id": "a", "fold": fold, "status": status,
                         "error_type": None if error is None else "ValueError", "error": error,
                         "fitted_at": "2026-01-01T11:00:00+00:00" if i == 0 else "2026-01-01T12:00:01+00:00",
                         "scored_at": "2026-01-01T12:00:02+00:00"})
    return pd.DataFrame(rows)


def test_counts_say_what_ran_what_was_reused_and_what_failed():
    counts = family_counts(scores(), STARTED)
    assert counts["gmm"] == {"tasks": 3, "fits": 3, "parts": {"tasks": 3}, "ok": 3, "failed": 0, "stopped": {},
                             "fitted_now": 2, "most_common_error": None}
    assert counts["svc"]["failed"] == 3 and counts["svc"]["most_common_error"] == {
        "error_type": "ValueError", "error": "C must be > 0. Got -1.0", "tasks": 3}


def test_fits_no_table_holds_are_counted_once_with_the_tasks():
    """Successive halving's earlier rungs of the configurations that went on, and nested CV's inner
    folds: one definition of a fit for the console, run.json and the report."""
    earlier = {"gmm": {"fits": 4, "failed": 1, "fitted_at": ["2026-01-01T12:00:05+00:00"] * 4}}
    inner = {"gmm": {"fits": 6, "failed": 0, "fitted_at": ["2026-01-01T11:00:00+00:00"] * 6}}
    extra = extra_fits([{"superseded_fits": earlier}], {"inner_fits": inner})
    counts = family_counts(scores(), STARTED, extra)["gmm"]
    assert counts["fits"] == 13 and counts["failed"] == 1 and counts["fitted_now"] == 2 + 4
    assert counts["parts"] == {"tasks": 3, "earlier rungs": 4, "nested CV inner folds": 6}
    assert counts_line({"gmm": counts}) == ("13 fits (3 configuration x fold tasks; 4 on earlier rungs; 6 on nested CV "
                                            "inner folds), 6 fitted in this run, 7 reused from earlier runs, 1 failed")


def test_the_most_common_failure_of_a_halving_rung_says_how_many_rows_its_fits_had():
    table = scores().assign(resource="1/27 of the training rows", n_train=10)
    common = family_counts(table, STARTED)["svc"]["most_common_error"]
    assert common["where"] == "with 1/27 of the training rows, about 10 rows"


def record():
    families = family_counts(scores(), STARTED)
    families["gmm"]["chosen"] = {"model": "gmm", "config_id": "a", "params": {"n_components": 3}, "value": 0.81234,
                                 "by": "ars_mean", "se": 0.0123, "sem": 0.006, "test": {},
                                 "how": "mean ± corrected standard error over 2 CV folds"}
    families["svc"]["chosen"] = None
    return {"experiment": "penguins", "config_file": "config.yaml", "report": "results/penguins/report.html",
            "selection_metric": "ars", "families": families, "winner": families["gmm"]["chosen"],
            "failed_families": ["svc"]}


def test_the_summary_names_the_winner_the_failures_and_the_report():
    text = format_summary(record())
    assert text.splitlines()[0] == ("Experiment penguins (config.yaml): 6 fits (configuration x fold), 4 fitted in "
                                    "this run, 2 reused from earlier runs, 3 failed.")
    assert "Winner: gmm n_components=3: ars 0.8123 ± 0.012 (mean ± corrected standard error over 2 CV folds)" in text
    assert "none (every fit failed)" in text and "Failures in svc: 3 of 3 fits" in text
    assert text.endswith("Report: results/penguins/report.html")


def test_a_family_without_any_fit_is_an_error_naming_it_and_its_error():
    assert all_failed_message(record()) == (
        "all 3 fits of family 'svc' failed; most common error (3 of them): ValueError: C must be > 0. Got -1.0. "
        "The report groups the failures: results/penguins/report.html")
    ok = record() | {"failed_families": []}
    assert all_failed_message(ok) is None


def test_numbers_show_the_differences_people_compare():
    assert format_number(10523.4) == "10523.4" and format_number(10561.9) == "10561.9"
    assert format_number(0.81234) == "0.8123" and format_number(0.0001234) == "0.0001234"
    assert format_number(float("nan")) == "n/a"
    assert format_score(0.81234, 0.01234) == "0.8123 ± 0.012"
    assert format_params({"max_depth": None, "features": ["x1", "x2"], "C": 0.5, "fit": True}) == \
        "max_depth=null, features=[x1, x2], C=0.5, fit=true"


def test_file_sizes_read_at_a_glance():
    from manymodels.results.formatting import format_bytes

    assert [format_bytes(n) for n in (812, 23_400, 1_234_567, 5e12)] == ["812 B", "23.4 kB", "1.2 MB", "5000.0 GB"]
