"""How sure the choice is, in words and tables a researcher reads first: the configurations the
folds cannot tell from the best, the families compared on the same folds, the nested CV estimate
of the procedure, and the warnings of :mod:`manymodels.results.cautions`."""

from __future__ import annotations

import html
import json

import pandas as pd

from .formatting import SE_SUFFIX, format_number, format_params, format_score, uncertainty_note
from .stages import stage_function


def percent(value) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{100 * value:.0f}%" if 0.01 <= value <= 0.99 else ("<1%" if value < 0.01 else ">99%")


DECISIONS = {
    "best": "the best",
    "equivalent": "practically equivalent",
    "undecided": "undecided: the folds cannot tell",
    "worse": "credibly worse",
}


def _se(row: pd.Series, by: str):
    """The corrected standard error of the value a configuration was chosen by (None in-sample)."""
    column = by.removesuffix("_mean") + SE_SUFFIX
    return row[column] if by.endswith("_mean") and column in row else None


def score_note(row: pd.Series, by: str, metrics: dict | None = None) -> str:
    """What a summary row's value in column ``by`` and its ± are, in words."""
    metric = by.removesuffix("_mean").removesuffix("_full")
    progressive = bool(metrics and "progressive" in metrics.get(metric, {}))
    return uncertainty_note(by=by, n_folds=int(row["n_ok"]), progressive=progressive)


def headline(choices: dict, summary: pd.DataFrame, nested: dict | None, metrics: dict | None = None) -> str:
    """The answer first: the winner, its score, how many configurations are as good, the nested estimate."""
    winner, metric = choices.get("overall"), choices["selection_metric"]
    if not winner:
        return "<div class='headline'><b>No configuration could be chosen</b>: every fit failed (see the failures).</div>"
    row = summary[(summary["model"] == winner["model"]) & (summary["config_id"] == winner["config_id"])].iloc[0]
    score = f"{format_score(winner['value'], _se(row, winner['by']))} ({score_note(row, winner['by'], metrics)})"
    items = [f"<b>Chosen: {html.escape(winner['model'])} {html.escape(format_params(winner['params']))}</b>, "
             f"{html.escape(metric)} {score}."]
    if counts := choices.get("comparison"):
        if rope_of(choices):
            items.append(f"{counts['equivalent']} other configuration{'s are' if counts['equivalent'] != 1 else ' is'} "
                         f"practically equivalent to the best and {counts['undecided']} cannot be told apart from it "
                         f"by these folds; {counts['worse']} are credibly worse.")
        else:
            items.append(f"{counts['undecided']} other configuration{'s' if counts['undecided'] != 1 else ''} cannot be "
                         f"told apart from the best by these folds and {counts['worse']} are credibly worse; with no "
                         "region of practical equivalence set (selection.rope), none can be practically equivalent.")
    estimate = (nested or {}).get("estimates", {}).get(metric, {})
    if estimate.get("mean") is not None:
        items.append(f"Nested CV estimate of the whole procedure: {format_score(estimate['mean'], _nested_se(estimate))} "
                     f"(mean ± corrected standard error over {estimate['n_outer']} outer folds).")
    if n := len(choices.get("warnings", [])):
        items.append(f"{n} warning{'s' if n > 1 else ''} below.")
    return "<div class='headline'>" + " ".join(items) + "</div>"


def certainty_text(choices: dict, summary: pd.DataFrame) -> str:
    """One paragraph: the best configuration, how many are practically equivalent to it, undecided
    or credibly worse, with the rope and credibility that decided."""
    metric, counts = choices["selection_metric"], choices.get("comparison")
    if not counts:
        return (f"<p>Configurations are ranked by {html.escape(metric)}, an in-sample value of one fit per "
                "configuration: there are no folds to compare them on, so no statement of certainty is made.</p>")
    best = counts["best"]
    row = summary[(summary["model"] == best["model"]) & (summary["config_id"] == best["config_id"])].iloc[0]
    n_folds = int(row["n_ok"])
    rope, credibility = rope_of(choices), choices.get("credibility", 0.95)
    others = counts["equivalent"] + counts["undecided"] + counts["worse"]
    compared = (f"{'The other configuration' if others == 1 else f'Each of the other {others} configurations'}"
                f"{_reached(choices)} was compared with it on the same folds (Bayesian correlated t-test, which "
                "accounts for the folds' shared training rows")
    text = (f"<p>The best mean CV {html.escape(metric)} is that of <b>{html.escape(best['model'])}</b> "
            f"{html.escape(format_params(_params(summary, best)))}: {format_score(row[f'{metric}_mean'], row[f'{metric}{SE_SUFFIX}'])} "
            f"({uncertainty_note(by=f'{metric}_mean', n_folds=n_folds)}). ")
    if rope:
        text += (f"{compared}; region of practical equivalence ±{rope:g} {html.escape(metric)}):</p><ul>"
                 f"<li><b>{counts['equivalent']}</b> practically equivalent (probability ≥ {percent(credibility)} of "
                 f"losing less than {rope:g});</li>"
                 f"<li><b>{counts['undecided']}</b> undecided: the folds cannot tell them from the best;</li>"
                 f"<li><b>{counts['worse']}</b> credibly worse (probability ≥ {percent(credibility)} of losing more "
                 f"than {rope:g}).</li></ul>")
    else:
        text += (f"{compared}):</p><ul>"
                 f"<li><b>{counts['undecided']}</b> undecided: the folds cannot tell them from the best;</li>"
                 f"<li><b>{counts['worse']}</b> credibly worse (probability ≥ {percent(credibility)} of being "
                 "worse).</li></ul>" + no_rope_text(choices))
    if counts["undecided"] > counts["equivalent"] + counts["worse"]:
        text += ("<p>Most configurations are undecided: the data cannot single out a winner. More folds "
                 "(a Repeated* splitter), more data, or a wider rope make the comparison sharper.</p>")
    return text


def _reached(choices: dict) -> str:
    """Under racing or halving, which configurations were compared: those that reached the end."""
    n = choices.get("stopped_earlier") or 0
    return f" that reached the search's last stage ({n} stopped earlier)" if n else ""


def rope_of(choices: dict) -> float | None:
    """The region of practical equivalence of a selection; None when none is set (or it is 0)."""
    return choices.get("rope") or None


def no_rope_text(choices: dict) -> str:
    """Why nothing can be practically equivalent without a rope, and a scale to start from."""
    metric, suggested = choices["selection_metric"], choices.get("suggested_rope")
    scale = (f" The median corrected standard error of the configurations' mean CV {html.escape(metric)} here is "
             f"{suggested:g}: differences smaller than that are within the noise of one mean, a scale to start from."
             if suggested else "")
    return ("<p><b>No region of practical equivalence is set</b> (<code>selection.rope</code>), so no configuration "
            "can be practically equivalent to the best: every difference counts, however small. Set "
            f"<code>selection.rope</code> to the smallest difference in {html.escape(metric)} that matters to you."
            f"{scale}</p>")


def _params(summary: pd.DataFrame, key: dict) -> dict:
    row = summary[(summary["model"] == key["model"]) & (summary["config_id"] == key["config_id"])]
    return json.loads(row["params"].iloc[0]) if len(row) else {}


def families_table(choices: dict) -> pd.DataFrame:
    """Each family's chosen configuration against the overall best, on the same folds."""
    metric = choices["selection_metric"]
    rows = []
    for entry in choices.get("families_vs_best", []):
        rows.append({
            "family": entry["model"],
            "chosen configuration": format_params(entry["params"]),
            f"CV {metric} (mean ± corrected SE)": format_score(entry["value"], entry.get("se", entry.get("sem"))),
            "difference to the best (± corrected SE)": (format_score(entry["mean_difference"], entry["se_difference"])
                                                        if entry["decision"] != "best" else "—"),
            "P(worse)": percent(entry["p_worse"]),
            "P(equivalent)": percent(entry["p_equivalent"]),
            "P(better)": percent(entry["p_better"]),
            "verdict": DECISIONS.get(entry["decision"], entry["decision"]),
        })
    return pd.DataFrame(rows)


def equivalent_set_table(choices: dict, summary: pd.DataFrame, comparisons: pd.DataFrame,
                         greater_is_better: bool) -> pd.DataFrame:
    """The configurations practically equivalent to the overall best, best first, with their
    probabilities; the chosen configurations marked."""
    metric = choices["selection_metric"]
    overall = comparisons[(comparisons["scope"] == "overall") & comparisons["equivalent"]]
    chosen = {(f["chosen"]["model"], f["chosen"]["config_id"]) for f in choices["models"].values() if f["chosen"]}
    table = overall.merge(summary, on=["model", "config_id"]).sort_values(f"{metric}_mean", ascending=not greater_is_better)
    return pd.DataFrame({
        "family": table["model"],
        "configuration": [format_params(json.loads(p)) for p in table["params"]],
        f"CV {metric} (mean ± corrected SE)": [format_score(m, s) for m, s in
                                               zip(table[f"{metric}_mean"], table[f"{metric}{SE_SUFFIX}"])],
        "P(no worse than the rope)": [percent(a + b) for a, b in zip(table["p_equivalent"], table["p_better"])],
        "chosen": ["chosen" if key in chosen else "" for key in zip(table["model"], table["config_id"])],
    })


def _nested_se(estimate: dict, prefix: str = ""):
    """The corrected standard error of a nested estimate (or of the winner's CV score); results
    written before it existed have the naive one only."""
    return estimate.get(f"{prefix}se", estimate.get(f"{prefix}sem"))


def nested_text(nested: dict | None) -> str:
    """The nested CV estimate next to the winner's (optimistic) CV score, and what each outer fold chose."""
    if not nested:
        return ""
    metric = nested["selection_metric"]
    estimate = nested["estimates"].get(metric, {})
    outers = nested["outer_folds"]
    text = ("<h2>How well does the procedure generalise? Nested cross-validation</h2>"
            f"<p>The whole selection (every configuration on the inner folds, the same rule) ran again inside each "
            f"of {len(outers)} outer folds; the configuration it chose there was refitted on the outer fold's "
            f"training rows and scored on its test rows, which the selection never saw.</p>")
    if estimate.get("mean") is not None:
        text += (f"<p><b>Nested estimate of {html.escape(metric)}: {format_score(estimate['mean'], _nested_se(estimate))}</b> "
                 f"(mean ± corrected standard error over {estimate['n_outer']} outer folds), against the winner's CV "
                 f"score of {format_score(estimate['winner_cv_mean'], _nested_se(estimate, 'winner_cv_'))}, which is "
                 "optimistic: it is the "
                 "best of many noisy estimates on the same folds.</p>")
    if nested.get("winner"):
        text += (f"<p>The outer folds chose the overall winner in {nested['winner_chosen']} of {len(outers)}; families "
                 f"chosen: {html.escape(', '.join(f'{m} {n}x' for m, n in nested['chosen_families'].items()))}.</p>")
    rows = []
    for outer in outers:
        chosen = outer["chosen"]
        rows.append({"outer fold": outer["outer"],
                     "chosen": f"{chosen['model']} {format_params(chosen['params'])}" if chosen else "nothing",
                     f"inner CV {metric}": format_number(chosen["value"]) if chosen else "n/a",
                     **{f"outer test {m}": format_number(v) for m, v in (outer["outer_scores"] or {}).items()}})
    return text + pd.DataFrame(rows).to_html(index=False, border=0, classes="t", escape=True)


def warnings_html(choices: dict) -> str:
    warnings = choices.get("warnings", [])
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w['message'])}</li>" for w in warnings)
    return f"<div class='warn'><b>Worth a look before you trust the choice</b><ul>{items}</ul></div>"


def certainty_lines(choices: dict, nested: dict | None) -> list[str]:
    """The console's account of how sure the choice is: the comparisons with the best, the nested
    estimate, the warnings."""
    metric, counts, lines = choices["selection_metric"], choices.get("comparison"), []
    if counts:
        others = counts["equivalent"] + counts["undecided"] + counts["worse"]
        of = f"of the {others} other configuration{'s' if others != 1 else ''}{_reached(choices)}"
        if rope := rope_of(choices):
            lines.append(f"How sure: {of}, "
                         f"{counts['equivalent']} {'is' if counts['equivalent'] == 1 else 'are'} practically equivalent "
                         f"to the best (within {rope:g} {metric}), {counts['undecided']} undecided, "
                         f"{counts['worse']} credibly worse.")
        else:
            suggested = choices.get("suggested_rope")
            lines.append(f"How sure: {of}, "
                         f"{counts['undecided']} undecided, {counts['worse']} credibly worse; none can be practically "
                         "equivalent without selection.rope (the smallest difference that matters to you"
                         + (f"; {suggested:g} is the median corrected standard error here" if suggested else "") + ").")
    rivals = [f for f in choices.get("families_vs_best", []) if f["decision"] != "best"]
    if rivals:
        lines.append("Families against the best: " + "; ".join(
            f"{f['model']} {DECISIONS[f['decision']].split(':')[0]} (P(worse) {percent(f['p_worse'])})" for f in rivals) + ".")
    estimate = (nested or {}).get("estimates", {}).get(metric, {})
    if estimate.get("mean") is not None:
        lines.append(f"Nested CV estimate of the procedure: {metric} {format_score(estimate['mean'], _nested_se(estimate))} "
                     f"over {estimate['n_outer']} outer folds (the winner's CV score "
                     f"{format_number(estimate['winner_cv_mean'])} is optimistic).")
    if warnings := choices.get("warnings"):
        kinds = {"edge": "best value at the edge of the grid", "folds": "folds disagree", "metrics": "metrics disagree",
                 "tie": "the winner is tied", "degenerate": "a degenerate pick"}
        said = ", ".join(dict.fromkeys(kinds[w["kind"]] for w in warnings))
        lines.append(f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''} in the report: {said}.")
    return lines


def race_text(decisions: list[dict], scores: pd.DataFrame) -> str:
    """Fold racing: what each decision kept and dropped, and the fits it saved."""
    if not decisions:
        return ""
    if "rung" in decisions[0]:
        return halving_text(decisions, scores)
    if section := stage_function(decisions, "report_section"):  # a search that writes its own section
        return section(decisions, scores)
    n_configs = scores.groupby(["model", "config_id"]).ngroups
    n_folds = scores["fold"].nunique()
    rows = [{"before CV fold": d["fold"], "folds seen": len(d["folds_seen"]), "went on": len(d["survivors"]),
             "dropped": len(d["dropped"]),
             "best so far": "; ".join(f"{m} {format_number(leader['mean'])}" for m, leader in d["leaders"].items())}
            for d in decisions]
    return ("<h2>Fold racing</h2>"
            f"<p>Every configuration was scored on the first {len(decisions[0]['folds_seen'])} folds; before each "
            f"further fold, those significantly worse than their family's best so far (corrected resampled t-test, "
            f"one-sided, level {decisions[0]['alpha']:g}) were dropped, and those whose every fit failed. "
            f"{len(decisions[-1]['survivors'])} of {n_configs} configurations ran every fold and competed for the "
            f"choice; {len(scores)} of the {n_configs * n_folds} tasks of the full grid were fitted "
            f"({100 * len(scores) / (n_configs * n_folds):.0f}%). <code>scores.parquet</code> and "
            "<code>summary.parquet</code> say where each configuration stopped and why "
            "(<code>stopped_at</code>, <code>stop_reason</code>).</p>" + pd.DataFrame(rows).to_html(
                index=False, border=0, classes="t", escape=True))


def halving_text(decisions: list[dict], scores: pd.DataFrame) -> str:
    """Successive halving: what each rung gave its fits, and how many went on."""
    n_configs = scores.groupby(["model", "config_id"]).ngroups
    rows = [{"rung": d["rung"], "resource": d["describe"], "configurations": len(d["survivors"]) + len(d["dropped"]),
             "went on": len(d["survivors"])} for d in decisions]
    finishers = len(decisions[-1]["survivors"])
    rows.append({"rung": len(decisions), "resource": "the full resource", "configurations": finishers, "went on": ""})
    return ("<h2>Successive halving</h2>"
            f"<p>All {n_configs} configurations were fitted on every CV fold with the least resource; after each rung "
            f"the best 1/{decisions[0]['factor']} of each family (by mean CV {html.escape(decisions[0]['metric'])}) "
            f"went on with {decisions[0]['factor']} times as much, on the same folds, until {finishers} configurations "
            "were fitted with the full resource and competed for the choice. <code>scores.parquet</code> holds each "
            "configuration's scores at the last rung it reached (<code>resource</code>), and says where it stopped "
            "and why (<code>stopped_at</code>, <code>stop_reason</code>).</p>"
            + pd.DataFrame(rows).to_html(index=False, border=0, classes="t", escape=True))

