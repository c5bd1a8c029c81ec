"""The wheel is a working install: it carries the Hydra configs and the CUDA sources, and
``python -m engine.run`` runs from it in any directory, with no checkout of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a build reads: the package, its data folders and the metadata files (whichever exist).
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "LICENSE.md", "setup.py", "setup.cfg",
           "MANIFEST.in", "engine", "conf", "kernels"]


def _pip(*args, cwd=None):
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    p = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, f"pip {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built offline from a copy of the tree (the checkout gets no build/ files)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, src / name)
    # No build isolation: setuptools comes from the environment (the `test` extra), nothing is downloaded.
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp / "dist"), str(src))
    whl, = (tmp / "dist").glob("engine-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (used through PYTHONPATH)."""
    site = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--target", str(site), str(wheel))
    return site


def _env(site: Path) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
                PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="1")


def test_wheel_carries_every_subpackage_config_and_kernel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in (ROOT / "engine").rglob("__init__.py"):
        rel = init.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} is not in the wheel: add its package to [tool.setuptools] packages"
    for path in (ROOT / "conf").rglob("*.yaml"):
        assert f"engine/conf/{path.relative_to(ROOT / 'conf').as_posix()}" in names
    cu = list((ROOT / "kernels").glob("*.cu"))
    assert cu and all(f"engine/kernels/{p.name}" in names for p in cu)


def test_installed_wheel_finds_its_configs_and_kernels(installed, tmp_path):
    code = ("import engine, engine.resources as r\n"
            "from engine.measures.cuda_kernels import kernels_dir, _kernel_source\n"
            "print(engine.__file__); print(r.conf_dir()); print(kernels_dir())\n"
            "print(len(_kernel_source('condensed_minplus.cu')))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(installed), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    module, conf, kernels, size = p.stdout.split("\n")[:4]
    pkg = (installed / "engine").resolve()
    assert Path(module).resolve().parent == pkg
    assert Path(conf) == pkg / "conf" and (Path(conf) / "config.yaml").is_file()
    assert Path(kernels) == pkg / "kernels"
    assert int(size) == len((ROOT / "kernels" / "condensed_minplus.cu").read_text())


def test_installed_wheel_runs_the_smoke_sweep_from_another_directory(installed, tmp_path):
    run_dir, cwd = tmp_path / "run", tmp_path / "elsewhere"
    cwd.mkdir()
    args = ["+sweep=smoke", "population.size=4", "train.epochs=1", "model.hidden=[12,8]",
            "dataset.limit_train=300", "dataset.limit_test=100", f"hydra.run.dir={run_dir}"]
    p = subprocess.run([sys.executable, "-m", "engine.run", *args], cwd=cwd, env=_env(installed),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr}"
    assert len(pd.read_parquet(run_dir / "networks.parquet")) == 4
    assert (run_dir / "report.html").is_file()
    assert not any(cwd.iterdir()), "the run wrote into the working directory"


def test_clone_layout_uses_the_top_level_folders():
    """Tests run from the repository (a clone or an editable install): conf/ and kernels/ at the top."""
    from engine.resources import conf_dir, kernels_dir

    assert conf_dir() == (ROOT / "conf").resolve()
    assert kernels_dir() == (ROOT / "kernels").resolve()


def test_help_documents_groups_and_keys(installed, tmp_path):
    """``--help`` is the engine's own page (conf/hydra/help/engine.yaml), not Hydra's config dump."""
    p = subprocess.run([sys.executable, "-m", "engine.run", "--help"], cwd=tmp_path, env=_env(installed),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for needle in ("Config groups", "dataset: cifar10, digits", "sweep: full", "population.size=1000",
                   "measures.dtype", "README.md"):
        assert needle in p.stdout
    assert len(p.stdout.splitlines()) < 80
