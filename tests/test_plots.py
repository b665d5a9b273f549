"""Selection figures a person can read: configurations labelled by their parameters, the chosen and
equivalent ones marked, lines on far-apart scales in panels, and the families compared with the best."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from manymodels.results import plots
from manymodels.results.aggregate import summarise, tidy_scores
from manymodels.results.compare import compare_with_best

ARS = {"greater_is_better": True, "on": "test"}
BIC = {"greater_is_better": False, "on": "train"}


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the plots draw, to look inside after they are saved."""
    figures = []
    original = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a: figures.append(original(*a)) or figures[-1])
    return figures


def experiment(tmp_path, grids: dict, *, rope=0.0, fail=(), seed=0):
    """scores/summary/selection/comparisons files of a small experiment: ``grids`` maps each family
    to its configurations' parameters; a family in ``fail`` failed every fit. Scores on 5 folds."""
    rng = np.random.default_rng(seed)
    configs, rows = [], []
    for k, (model, grid) in enumerate(grids.items()):
        for i, params in enumerate(grid):
            config_id = f"{model[:2]}{i:02d}{'0' * 6}"
            configs.append({"model": model, "config_id": config_id, "params": params})
            level = 0.9 - 0.03 * k - 0.05 * i
            for fold in ("0", "1", "2", "3", "4", "full"):
                ok = model not in fail
                rows.append({"model": model, "config_id": config_id, "fold": fold, "status": "ok" if ok else "error",
                             "error_type": None if ok else "ValueError", "error": None if ok else "boom",
                             "n_train": 80, "n_test": 20, "score_error": None,
                             "ars": level + rng.normal(scale=0.02) if ok else np.nan,
                             "bic": 10500 + 40 * i + rng.normal(scale=5) if ok else np.nan})
    scores = tidy_scores(pd.DataFrame(rows), configs, ["ars", "bic"])
    summary = summarise(scores, configs, ["ars", "bic"])
    compared = compare_with_best(scores, summary, metric="ars", greater_is_better=True, rope=rope)
    families = {}
    for model in grids:
        best = summary[summary["model"] == model].sort_values("ars_mean", ascending=False).iloc[0]
        chosen = None if model in fail else {"model": model, "config_id": best["config_id"],
                                             "params": json.loads(best["params"]), "value": best["ars_mean"]}
        families[model] = {"chosen": chosen}
    selection = {"models": families, "selection_metric": "ars", "rule": "equivalent", "rope": rope,
                 "credibility": 0.95}
    paths = {name: str(tmp_path / f"{name}.{ext}") for name, ext in
             (("scores", "parquet"), ("summary", "parquet"), ("selection", "json"), ("comparisons", "parquet"))}
    scores.to_parquet(paths["scores"])
    summary.to_parquet(paths["summary"])
    compared.to_parquet(paths["comparisons"])
    (tmp_path / "selection.json").write_text(json.dumps(selection))
    return paths


GMM = [{"n_components": n, "covariance_type": c} for n in (2, 3, 4) for c in ("full", "spherical")]
LOGREG = [{"clf__C": c} for c in (0.01, 0.1, 1.0, 10.0)]
BOOSTING = [{"learning_rate": r, "max_leaf_nodes": 8 + i} for i, r in enumerate((0.0437829, 0.12345, 0.2))]


def fits_inside(fig) -> bool:
    """Every title, label, tick label and legend lies within the figure: nothing is cut at its edges."""
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, like the figure's size
    width, height = fig.get_size_inches()
    return drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01


def test_configurations_are_labelled_by_their_parameters(tmp_path):
    paths = experiment(tmp_path, {"gmm": GMM, "logreg": LOGREG, "boosting": BOOSTING})
    table = pd.read_parquet(paths["summary"])
    labels, names = plots.config_labels(table, "gmm")
    assert labels["gm01000000"] == "2, spherical" and names == ["n_components", "covariance_type"]
    labels, names = plots.config_labels(table, "logreg")  # one parameter: named, without its pipeline step
    assert sorted(labels.values()) == ["C=0.01", "C=0.1", "C=1", "C=10"] and names == ["C"]
    labels, _ = plots.config_labels(table, "boosting")  # random draws: three significant digits
    assert labels["bo00000000"] == "0.0438, 8"


def test_cv_score_plot_labels_and_marks(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM, "logreg": LOGREG})
    out = tmp_path / "cv.png"
    plots.plot_cv_scores(scores=paths["scores"], metric="ars", spec=ARS, out=str(out), selection=paths["selection"],
                         comparisons=paths["comparisons"])
    fig = drawn[0]
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:2] == ["2, full", "2, spherical"] and "C=0.01" in labels  # parameters, best mean first
    assert not any("000000" in label for label in labels)  # never a hash id
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 2  # one chosen configuration per family, above its box
    legend = [t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()]
    assert "gmm (n_components, covariance_type)" in legend
    assert any(text.startswith("chosen configuration") for text in legend)
    assert any("the family's best by ars" in text for text in legend)
    assert fits_inside(fig) and imread(out).shape[2] in (3, 4)


def test_cv_score_plot_shows_each_familys_best_configurations(tmp_path, monkeypatch, drawn):
    monkeypatch.setattr(plots, "MAX_BOXES_PER_FAMILY", 2)
    paths = experiment(tmp_path, {"gmm": GMM, "logreg": LOGREG})
    plots.plot_cv_scores(scores=paths["scores"], metric="ars", spec=ARS, out=str(tmp_path / "cv.png"))
    ax = drawn[0].axes[0]
    assert len(ax.get_xticklabels()) == 4
    assert "best 2 configurations of each family and the chosen ones (4 of 10)" in ax.get_title().replace("\n", " ")
    # A chosen configuration ranked below the best few (the simplest equivalent one, say) is shown too.
    selection = json.loads((tmp_path / "selection.json").read_text())
    selection["models"]["gmm"]["chosen"]["config_id"] = "gm05000000"
    (tmp_path / "selection.json").write_text(json.dumps(selection))
    plots.plot_cv_scores(scores=paths["scores"], metric="ars", spec=ARS, out=str(tmp_path / "cv.png"),
                         selection=paths["selection"])
    labels = [t.get_text() for t in drawn[1].axes[0].get_xticklabels()]
    assert labels[:3] == ["2, full", "2, spherical", "4, spherical"]


def test_metric_plot_marks_the_chosen_and_says_what_the_bars_are(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM})
    plots.plot_metric(summary=paths["summary"], model="gmm", metric="ars", spec=ARS, x="n_components",
                      out=str(tmp_path / "ars.png"), selection=paths["selection"], comparisons=paths["comparisons"])
    fig = drawn[0]
    ax = fig.axes[0]
    assert "error bars ± corrected standard error" in ax.get_title()
    star = next(line for line in ax.lines if line.get_marker() == "*")
    assert list(star.get_xdata()) == [2.0]  # the best configuration: n_components=2, full
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "covariance_type=full" in legend and any(t.startswith("chosen configuration") for t in legend)
    assert fits_inside(fig)


def test_in_sample_numbers_are_written_out(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM})
    plots.plot_metric(summary=paths["summary"], model="gmm", metric="bic", spec=BIC, x="n_components",
                      out=str(tmp_path / "bic.png"), selection=paths["selection"])
    fig = drawn[0]
    fig.canvas.draw()
    for ax in fig.axes:
        assert ax.yaxis.get_major_formatter().get_offset() == ""  # no '+1.05e4' hiding the differences
        ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert all("e" not in t for t in ticks) and any(len(t.replace("−", "")) >= 5 for t in ticks)


def test_panel_rule_splits_lines_on_far_apart_scales():
    # BIC of penguins: spherical covariances thousands above the others, which lie close together.
    spans = [(10700, 11050), (10550, 11050), (16000, 18900), (10520, 10680)]
    assert plots.panel_groups(spans) == [[2], [0, 1, 3]]
    # ARS of four lines that overlap: one axis.
    assert plots.panel_groups([(0.3, 0.9), (0.1, 0.45), (0.35, 0.75), (0.4, 0.7)]) == [[0, 1, 2, 3]]
    # A flat line squeezes nothing; a line that would fill under PANEL_FILL of the axis does get its own.
    assert len(plots.panel_groups([(0.0, 1.0), (5.0, 5.0)])) == 1
    assert len(plots.panel_groups([(0.0, 1.0), (0.0, 0.05)])) == 2
    assert len(plots.panel_groups([(0.0, 1.0), (0.0, 0.2)])) == 1


def test_metric_plot_uses_panels_when_one_line_squeezes_the_others(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM})
    summary = pd.read_parquet(paths["summary"])
    spherical = summary["covariance_type"] == "spherical"
    summary.loc[spherical, "bic_full"] = 18000 - 900 * summary.loc[spherical, "n_components"]  # far above
    summary.to_parquet(paths["summary"])
    plots.plot_metric(summary=paths["summary"], model="gmm", metric="bic", spec=BIC, x="n_components",
                      out=str(tmp_path / "bic.png"), selection=paths["selection"])
    fig = drawn[0]
    assert len(fig.axes) == 2 and "panels" in fig.get_suptitle()
    assert fig.axes[0].get_legend_handles_labels()[1] == ["covariance_type=spherical"]
    assert fits_inside(fig)


def test_families_figure_compares_each_choice_with_the_best(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM, "logreg": LOGREG, "svc": LOGREG}, rope=0.01, fail=("svc",))
    plots.plot_families(scores=paths["scores"], summary=paths["summary"], selection=paths["selection"],
                        comparisons=paths["comparisons"], metric="ars", spec=ARS, out=str(tmp_path / "f.png"))
    fig = drawn[0]
    ax, right = fig.axes
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[0].startswith("gmm: n_components=2,") and rows[1].startswith("logreg: C=") and rows[2].startswith("svc")
    beside = [t.get_text() for t in right.get_yticklabels()]
    assert beside[0] == "the reference (the best)" and "P(worse)" in beside[1] and "P(equivalent)" in beside[1]
    assert beside[2] == "—" and any("every fit failed" in t.get_text() for t in ax.texts)
    assert any(p.get_x() == pytest.approx(-0.01) for p in ax.patches)  # the rope, shaded
    assert len(ax.collections[1].get_offsets()) == 5  # logreg's differences, one per fold
    title = ax.get_title().replace("\n", " ")
    assert "best configuration overall" in title and "higher is better" in title
    assert fits_inside(fig)


def test_families_figure_of_one_family_compares_its_best_configurations(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM})
    plots.plot_families(scores=paths["scores"], summary=paths["summary"], selection=paths["selection"],
                        comparisons=paths["comparisons"], metric="ars", spec=ARS, out=str(tmp_path / "f.png"), top=4)
    fig = drawn[0]
    ax = fig.axes[0]
    assert "One family (gmm)" in ax.get_title().replace("\n", " ")
    rows = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
    assert len(rows) == 4 and rows[0].endswith("(chosen)")
    assert fits_inside(fig)


def test_families_figure_says_why_there_is_nothing_to_compare(tmp_path, drawn):
    paths = experiment(tmp_path, {"gmm": GMM, "logreg": LOGREG})
    pd.read_parquet(paths["comparisons"]).iloc[0:0].to_parquet(paths["comparisons"])  # an in-sample selection metric
    plots.plot_families(scores=paths["scores"], summary=paths["summary"], selection=paths["selection"],
                        comparisons=paths["comparisons"], metric="bic", spec=BIC, out=str(tmp_path / "f.png"))
    ax = drawn[0].axes[0]
    assert "bic is in-sample" in ax.texts[0].get_text().replace("\n", " ")
    assert fits_inside(drawn[0])


def test_many_lines_without_standard_errors_on_a_log_axis(tmp_path, drawn):
    """A streaming family: one stream per configuration (no standard error), a regularisation
    strength over decades, and dozens of lines: drawn, no legend of dozens, the title says what they are."""
    grid = [{"alpha": a, "l1_ratio": r, "degree": d} for a in (0.0001, 0.01, 1.0) for r in (0.1, 0.5, 0.9)
            for d in (1, 2, 3, 4, 5)]
    paths = experiment(tmp_path, {"sgd": grid})
    summary = pd.read_parquet(paths["summary"]).assign(ars_sem=np.nan, ars_se_corrected=np.nan)
    summary.to_parquet(paths["summary"])
    plots.plot_metric(summary=paths["summary"], model="sgd", metric="ars", spec=ARS, x="alpha",
                      out=str(tmp_path / "ars.png"), selection=paths["selection"])
    fig = drawn[0]
    assert fig.axes[-1].get_xscale() == "log"
    assert "one line per combination of l1_ratio, degree (15 lines)" in " ".join(
        [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]).replace("\n", " ")
    assert not fig.legends or len(fig.legends[0].get_texts()) <= plots.MAX_LEGEND_LINES
    assert fits_inside(fig)


@pytest.mark.parametrize("kind", ["classifier", "clusterer"])
def test_the_held_out_figure_of_a_classifier_or_a_clusterer_against_a_text_label(tmp_path, drawn, kind):
    """A classifier's held-out predictions are the label's classes: a confusion matrix. A clusterer's
    are cluster numbers, not classes: a table of the label's values against its clusters."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture

    from manymodels.task.io import write_checked_json, write_joblib

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": np.r_[rng.normal(0, 1, 60), rng.normal(6, 1, 60)]})
    frame["species"] = ["Adelie"] * 60 + ["Gentoo"] * 60
    holdout = pd.DataFrame({"holdout": np.arange(120) % 4 == 0})
    frame.to_parquet(tmp_path / "data.parquet")
    holdout.to_parquet(tmp_path / "holdout.parquet")
    model = (LogisticRegression().fit(frame[["x"]], frame["species"]) if kind == "classifier"
             else GaussianMixture(2, random_state=0).fit(frame[["x"]]))
    folder = tmp_path / "models" / "m" / "c0"
    meta = write_joblib(model, folder / "fold-all.joblib")
    write_checked_json({"model": "m", "config_id": "c0", "fold": "all", **meta}, folder / "fold-all.json")
    (tmp_path / "selection.json").write_text(json.dumps({"overall": {"model": "m", "config_id": "c0",
                                                                     "params": {"n_components": 2}}}))
    said = plots.plot_test_predictions(selection=str(tmp_path / "selection.json"),
                                       model_file=str(folder / "fold-all.joblib"),
                                       model_meta=str(folder / "fold-all.json"), data=str(tmp_path / "data.parquet"),
                                       holdout=str(tmp_path / "holdout.parquet"), features=["x"], label="species",
                                       out=str(tmp_path / "test.png"))
    assert said.startswith("30 held-out rows") and imread(tmp_path / "test.png").size
    ax = drawn[-1].axes[0]
    columns = [t.get_text() for t in ax.get_xticklabels()]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Adelie", "Gentoo"]
    if kind == "classifier":
        assert columns == ["Adelie", "Gentoo"] and ax.get_xlabel() == "predicted species"
    else:
        assert sorted(columns) == ["0", "1"] and ax.get_xlabel() == "cluster"
    cells = sorted(int(t.get_text()) for t in ax.texts)
    assert sum(cells) == 30 and cells[:2] == [0, 0]  # two well-separated groups: each in one column
