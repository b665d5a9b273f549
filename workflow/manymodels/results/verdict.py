"""How sure the choice is, in words and tables a researcher reads first: the configurations the
folds cannot tell from the best, the families compared on the same folds, the nested CV estimate
of the procedure, and the warnings of :mod:`manymodels.results.cautions`."""

from __future__ import annotations

import html
import json

import pandas as pd

from .formatting import format_number, format_params, format_score


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


def headline(choices: dict, summary: pd.DataFrame, nested: dict | None) -> str:
    """The answer first: the winner, its score, how many configurations are as good, the nested estimate."""
    winner, metric = choices.get("overall"), choices["selection_metric"]
    if not winner:
        return "<div class='headline'><b>No configuration could be chosen</b>: every fit failed (see the failures).</div>"
    row = summary[(summary["model"] == winner["model"]) & (summary["config_id"] == winner["config_id"])].iloc[0]
    score = (format_score(row[f"{metric}_mean"], row[f"{metric}_sem"]) + " (mean ± standard error over CV folds)"
             if f"{metric}_mean" in row and not pd.isna(row[f"{metric}_mean"]) else format_score(winner["value"]))
    items = [f"<b>Chosen: {html.escape(winner['model'])} {html.escape(format_params(winner['params']))}</b>, "
             f"{html.escape(metric)} {score}."]
    if counts := choices.get("comparison"):
        items.append(f"{counts['equivalent']} other configuration{'s are' if counts['equivalent'] != 1 else ' is'} "
                     f"practically equivalent to the best and {counts['undecided']} cannot be told apart from it by "
                     f"these folds; {counts['worse']} are credibly worse.")
    estimate = (nested or {}).get("estimates", {}).get(metric, {})
    if estimate.get("mean") is not None:
        items.append(f"Nested CV estimate of the whole procedure: {format_score(estimate['mean'], estimate['sem'])}.")
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
    rope, credibility = choices.get("rope", 0), choices.get("credibility", 0.95)
    rope_text = f"{rope:g}"
    others = counts["equivalent"] + counts["undecided"] + counts["worse"]
    text = (f"<p>The best mean CV {html.escape(metric)} is that of <b>{html.escape(best['model'])}</b> "
            f"{html.escape(format_params(_params(summary, best)))}: {format_score(row[f'{metric}_mean'], row[f'{metric}_sem'])} "
            f"(mean ± standard error over {n_folds} folds). "
            f"{'The other configuration' if others == 1 else f'Each of the other {others} configurations'} was compared "
            f"with it on the same folds (Bayesian correlated t-test, which accounts for the folds' shared training "
            f"rows; region of practical equivalence ±{rope_text} {html.escape(metric)}):</p><ul>"
            f"<li><b>{counts['equivalent']}</b> practically equivalent (probability ≥ {percent(credibility)} of "
            f"losing less than {rope_text});</li>"
            f"<li><b>{counts['undecided']}</b> undecided: the folds cannot tell them from the best;</li>"
            f"<li><b>{counts['worse']}</b> credibly worse (probability ≥ {percent(credibility)} of losing more).</li></ul>")
    if counts["undecided"] > counts["equivalent"] + counts["worse"]:
        text += ("<p>Most configurations are undecided: the data cannot single out a winner. More folds "
                 "(a Repeated* splitter), more data, or a wider rope make the comparison sharper.</p>")
    return text


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
            f"CV {metric} (mean ± standard error)": format_score(entry["value"], entry["sem"]),
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
        f"CV {metric} (mean ± SE)": [format_score(m, s) for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_sem"])],
        "P(no worse than the rope)": [percent(a + b) for a, b in zip(table["p_equivalent"], table["p_better"])],
        "chosen": ["chosen" if key in chosen else "" for key in zip(table["model"], table["config_id"])],
    })


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
        text += (f"<p><b>Nested estimate of {html.escape(metric)}: {format_score(estimate['mean'], estimate['sem'])}</b> "
                 f"(mean ± standard error over {estimate['n_outer']} outer folds), against the winner's CV score of "
                 f"{format_score(estimate['winner_cv_mean'], estimate['winner_cv_sem'])}, which is optimistic: it is the "
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
        lines.append(f"How sure: of the {others} other configuration{'s' if others != 1 else ''}, {counts['equivalent']} "
                     f"{'is' if counts['equivalent'] == 1 else 'are'} practically equivalent "
                     f"to the best (within {choices.get('rope', 0):g} {metric}), {counts['undecided']} undecided, "
                     f"{counts['worse']} credibly worse.")
    rivals = [f for f in choices.get("families_vs_best", []) if f["decision"] != "best"]
    if rivals:
        lines.append("Families against the best: " + "; ".join(
            f"{f['model']} {DECISIONS[f['decision']].split(':')[0]} (P(worse) {percent(f['p_worse'])})" for f in rivals) + ".")
    estimate = (nested or {}).get("estimates", {}).get(metric, {})
    if estimate.get("mean") is not None:
        lines.append(f"Nested CV estimate of the procedure: {metric} {format_score(estimate['mean'], estimate['sem'])} "
                     f"over {estimate['n_outer']} outer folds (the winner's CV score "
                     f"{format_number(estimate['winner_cv_mean'])} is optimistic).")
    if warnings := choices.get("warnings"):
        kinds = {"edge": "best value at the edge of the grid", "folds": "folds disagree", "metrics": "metrics disagree"}
        said = ", ".join(dict.fromkeys(kinds[w["kind"]] for w in warnings))
        lines.append(f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''} in the report: {said}.")
    return lines


def race_text(decisions: list[dict], scores: pd.DataFrame) -> str:
    """Fold racing: what each decision kept and dropped, and the fits it saved."""
    if not decisions:
        return ""
    if "rung" in decisions[0]:
        return halving_text(decisions, scores)
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
