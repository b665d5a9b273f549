from manymodels import provenance


def test_each_stage_hash_covers_exactly_its_modules(tmp_path, monkeypatch):
    for name in {n for names in provenance.STAGE_MODULES.values() for n in names}:
        (tmp_path / name).write_text((provenance.PACKAGE_DIR / name).read_text())
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path)
    before = {stage: provenance.code_hash(stage) for stage in provenance.STAGE_MODULES}
    (tmp_path / "score.py").write_text((tmp_path / "score.py").read_text() + "\n# edited\n")
    after = {stage: provenance.code_hash(stage) for stage in provenance.STAGE_MODULES}
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert "fit" not in changed and "data" not in changed
    assert {"score", "aggregate"} <= changed


def test_fit_hash_changes_with_fitting_code(tmp_path, monkeypatch):
    for name in provenance.STAGE_MODULES["fit"]:
        (tmp_path / name).write_text((provenance.PACKAGE_DIR / name).read_text())
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path)
    before = provenance.code_hash("fit")
    (tmp_path / "fit.py").write_text((tmp_path / "fit.py").read_text() + "\n# edited\n")
    assert provenance.code_hash("fit") != before


def test_package_version_names_the_distribution():
    import sklearn

    assert provenance.package_version("sklearn.mixture.GaussianMixture") == f"scikit-learn=={sklearn.__version__}"
