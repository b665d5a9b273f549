from manymodels.engine import provenance


def copy_modules(tmp_path, names):
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((provenance.PACKAGE_DIR / name).read_text())


def test_each_stage_hash_covers_exactly_its_modules(tmp_path, monkeypatch):
    copy_modules(tmp_path, {n for names in provenance.STAGE_MODULES.values() for n in names})
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path)
    before = {stage: provenance.code_hash(stage) for stage in provenance.STAGE_MODULES}
    score = tmp_path / "task/score.py"
    score.write_text(score.read_text() + "\n# edited\n")
    after = {stage: provenance.code_hash(stage) for stage in provenance.STAGE_MODULES}
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert "fit" not in changed and "data" not in changed
    assert {"score", "aggregate"} <= changed


def test_fit_hash_changes_with_fitting_code(tmp_path, monkeypatch):
    copy_modules(tmp_path, provenance.STAGE_MODULES["fit"])
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path)
    before = provenance.code_hash("fit")
    fit = tmp_path / "task/fit.py"
    fit.write_text(fit.read_text() + "\n# edited\n")
    assert provenance.code_hash("fit") != before


def test_every_listed_module_exists():
    for names in provenance.STAGE_MODULES.values():
        for name in names:
            assert (provenance.PACKAGE_DIR / name).is_file(), name


def test_own_modules_are_hashed_and_installed_ones_are_not(tmp_path, monkeypatch):
    from manymodels.engine.provenance import own_code_hash

    (tmp_path / "own_metric.py").write_text("def score(y, p):\n    return 1.0\n")
    (tmp_path / "own_pkg").mkdir()
    (tmp_path / "own_pkg" / "__init__.py").write_text("")
    (tmp_path / "own_pkg" / "models.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert own_code_hash(["sklearn.metrics.accuracy_score", "manymodels.experiment.metrics.rmse"]) is None
    assert own_code_hash(["no_such_module.f"]) is None  # the config check reports it
    metric = own_code_hash(["sklearn.svm.SVC", "own_metric.score"])
    package = own_code_hash(["own_pkg.models.Thing"])
    assert metric and package and metric != package
    (tmp_path / "own_pkg" / "helpers.py").write_text("Y = 2\n")  # any module of the package counts
    assert own_code_hash(["own_pkg.models.Thing"]) != package
    (tmp_path / "own_metric.py").write_text("def score(y, p):\n    return 2.0\n")
    assert own_code_hash(["own_metric.score"]) != metric


def test_a_copied_own_module_hashes_the_same(tmp_path, monkeypatch):
    import importlib

    from manymodels.engine.provenance import own_code_hash

    for place in ("here", "there"):
        (tmp_path / place).mkdir()
        (tmp_path / place / "own_copied.py").write_text("A = 1\n")
    hashes = []
    for place in ("here", "there"):
        with monkeypatch.context() as patch:
            patch.syspath_prepend(str(tmp_path / place))
            importlib.invalidate_caches()
            hashes.append(own_code_hash(["own_copied.f"]))
    assert hashes[0] is not None and hashes[0] == hashes[1]
