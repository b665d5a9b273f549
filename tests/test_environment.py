"""The conda environment file and requirements.txt pin the same packages at the same versions."""

import re

import yaml

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONDA_TO_PIP = {"pyyaml": "pyyaml"}


def pip_pins():
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def conda_pins():
    env = yaml.safe_load((REPO / "envs" / "manymodels.yaml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, version = line.split("==")
                pins[name.lower()] = version
        elif dep not in ("pip",) and not dep.startswith("python="):
            name, version = re.split(r"=+", dep)
            pins[CONDA_TO_PIP.get(name, name).lower()] = version
    return pins, env


def test_conda_env_and_requirements_agree():
    pins, _ = conda_pins()
    assert pins == pip_pins()


def test_conda_env_python_matches_the_tested_python():
    import sys

    _, env = conda_pins()
    assert f"python={sys.version_info.major}.{sys.version_info.minor}" in env["dependencies"]


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in pip_pins().items():
        assert version(name) == pinned, name
