"""A non-editable install ships every package of the tree (pyproject lists them by hand)."""
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_in_the_tree_is_listed_in_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("began_fast", "began_fast"), ("kernels", "began_fast.kernels")):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            if "__init__.py" in files:
                relative = os.path.relpath(folder, os.path.join(ROOT, top))
                found.add(name if relative == "." else f"{name}.{relative.replace(os.sep, '.')}")
    assert found == listed
