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
