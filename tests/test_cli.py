import io
import json

import pandas as pd
import pytest

from manymodels.results.cli import main
from test_store import build_results


@pytest.fixture
def results(tmp_path):
    return build_results(tmp_path, [{"n_components": 2}, {"n_components": 3}, {"n_components": 400}])


def run(capsys, *args):
    code = main(["results", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_where_sort_columns_limit_as_aligned_table(results, capsys):
    code, out, _ = run(capsys, results, "--where", "status == 'ok' and fold != 'full'", "--sort", "-ars",
                       "--columns", "config_id,n_components,fold,ars", "--limit", "3")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].split() == ["config_id", "n_components", "fold", "ars"] and len(lines) == 4
    ars = [float(line.split()[-1]) for line in lines[1:]]
    assert ars == sorted(ars, reverse=True)


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_output_formats(results, capsys, fmt):
    _, out, _ = run(capsys, results, "--columns", "n_components,fold,status", "--sort", "n_components,fold",
                    "--format", fmt)
    if fmt == "csv":
        table = pd.read_csv(io.StringIO(out))
        assert list(table.columns) == ["n_components", "fold", "status"] and len(table) == 9
    elif fmt == "json":
        records = json.loads(out)
        assert records[0] == {"n_components": 2, "fold": "0", "status": "ok"} and len(records) == 9
    else:
        lines = out.strip().splitlines()
        assert lines[0] == "| n_components | fold | status |" and lines[1] == "|---|---|---|" and len(lines) == 11


def test_default_columns_hide_bookkeeping(results, capsys):
    _, out, _ = run(capsys, results, "--limit", "1")
    header = out.splitlines()[0].split()
    assert {"model", "config_id", "n_components", "fold", "status", "ars", "bic"} <= set(header)
    assert "model_sha256" not in header and "scored_at" not in header


def test_failed_lists_failures_grouped_by_error(results, capsys):
    _, out, _ = run(capsys, results, "--failed", "--format", "json")
    (group,) = json.loads(out)
    assert group["error_type"] == "ValueError" and group["tasks"] == 3 and group["configurations"] == 1
    assert group["error_pattern"].startswith("Expected n_samples >= n_components but got n_components = <n>")


def test_summary_and_unknown_column(results, capsys):
    _, out, _ = run(capsys, results, "--summary", "--sort", "-ars_mean", "--columns", "n_components,ars_mean", "--format", "csv")
    assert pd.read_csv(io.StringIO(out))["n_components"].tolist()[:2] in ([3, 2], [2, 3])
    with pytest.raises(SystemExit, match="unknown column"):
        run(capsys, results, "--sort", "nope")


def test_stale_and_prune_ask_before_deleting(results, tmp_path, capsys, monkeypatch):
    build_results(tmp_path, [{"n_components": 2}])
    _, out, err = run(capsys, results, "--stale")
    assert len(out.splitlines()) == 4 and "4 stale" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: refuse without --yes
    code, _, err = run(capsys, results, "--prune")
    assert code == 1 and "pass --yes" in err and len(list((results / "fits/gmm").iterdir())) == 3
    code, _, err = run(capsys, results, "--prune", "--yes")
    assert code == 0 and "deleted 4" in err and len(list((results / "fits/gmm").iterdir())) == 1


def test_experiments_are_found_by_name_and_listed(tmp_path, capsys, monkeypatch):
    from test_store import build_results

    root = tmp_path / "clone"
    for name in ("penguins", "tournament"):
        build_results(root, [{"n_components": 2}], results=root / "results" / name)
    monkeypatch.chdir(root)
    code, out, _ = run(capsys, "penguins", "--summary", "--columns", "n_components", "--format", "csv")
    assert code == 0 and out.splitlines() == ["n_components", "2"]
    with pytest.raises(SystemExit, match="holds 2 experiments .penguins, tournament.: name one"):
        run(capsys)
    with pytest.raises(SystemExit, match="pengiuns: no experiment results here .*did you mean 'penguins'"):
        run(capsys, "pengiuns")
    assert main(["experiments", "--format", "csv"]) == 0
    listed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert listed["experiment"].tolist() == ["penguins", "tournament"]


def test_a_fold_written_as_a_number_and_a_misspelt_where_column(results, capsys):
    _, out, _ = run(capsys, results, "--where", "fold == 1", "--columns", "fold", "--format", "csv")
    assert set(out.split()[1:]) == {"1"} and len(out.split()) == 4
    with pytest.raises(SystemExit) as raised:
        run(capsys, results, "--where", "n_component == 3")
    assert "\n" not in str(raised.value) and "the columns are: model, config_id" in str(raised.value)


def test_an_unfinished_experiment_is_listed_with_its_progress_and_shows_what_is_scored(tmp_path, capsys, monkeypatch):
    root = tmp_path / "clone"
    build_results(root, [{"n_components": 2}], results=root / "results" / "done")
    stopped = build_results(root, [{"n_components": 2}, {"n_components": 3}], results=root / "results" / "stopped")
    for name in ("scores.parquet", "summary.parquet", "configs.tsv"):
        (stopped / name).unlink()
    (root / "results" / "done" / "run.json").write_text(json.dumps({"finished": "2026-01-01T00:00:00+00:00"}))
    monkeypatch.chdir(root)
    assert main(["experiments", "--format", "csv"]) == 0
    listed = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("experiment")
    assert listed.loc["done", "status"] == "finished" and listed.loc["stopped", "status"] == "unfinished: 6 fits scored"
    code, out, err = run(capsys, "stopped", "--format", "csv")
    assert code == 0 and "unfinished" in err and "Leaderboard so far" in err
    assert len(pd.read_csv(io.StringIO(out))) == 2
