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


def test_ci_ends_with_the_readmes_test_command_verbatim():
    """.ci/run's last command is the README's test command, so that CI's last line is the
    main suite's own summary and CI cannot drift from what the README tells a user to run."""
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        last = [line for line in f.read().splitlines() if line.strip() and not line.startswith("#")][-1]
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = [line.strip() for line in f]
    assert last.startswith("python3.11 -m venv .venv && ") and "pytest" in last
    assert last in readme
