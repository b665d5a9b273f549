import numpy as np
import pandas as pd
from matplotlib.image import imread

from manymodels.results import plots


def test_cv_score_plot_shows_each_familys_best_configurations(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plots, "MAX_BOXES_PER_FAMILY", 5)
    original = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *a: drawn.append(original(*a)) or drawn[-1])
    rng = np.random.default_rng(0)
    rows = [{"model": model, "config_id": f"{model}{i:02d}000000", "fold": fold, "ars": i + rng.normal(scale=0.1)}
            for model, n in (("aa", 30), ("bb", 3)) for i in range(n) for fold in ("0", "1", "2", "full")]
    pd.DataFrame(rows).to_parquet(tmp_path / "scores.parquet")
    out = tmp_path / "cv.png"
    plots.plot_cv_scores(scores=str(tmp_path / "scores.parquet"), metric="ars",
                         spec={"greater_is_better": True}, out=str(out))
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["aa2900", "aa2800", "aa2700", "aa2600", "aa2500", "bb0200", "bb0100", "bb0000"]
    assert "best 5 configurations of each family (8 of 33)" in ax.get_title()
    assert imread(out).shape[2] in (3, 4)
