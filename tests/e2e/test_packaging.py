"""A non-editable install gets every package, the resources and the console entry point."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_every_package_and_the_resources(tmp_path):
    # Build from a copy: setuptools writes build/ and egg-info/ into the source tree.
    source = tmp_path / "source"
    junk = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".*cache")
    shutil.copytree(ROOT, source, ignore=junk)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("alexnet_studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "alexnet_tf/resources/imagenet_classes.tsv" in names
    for init in [*ROOT.glob("alexnet_tf/**/__init__.py"), *ROOT.glob("app/**/__init__.py")]:
        relative = init.relative_to(ROOT).as_posix()
        assert relative in names, f"{relative} is missing: add its package to pyproject.toml"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "alexnet-studio = app.launch:main" in text
