"""The began-fast benchmark suite (pytest-benchmark); see bench/README.md."""
