"""Repository-level pytest configuration.

`pytest` at the repository root runs the plugin's own tests (testpaths); benchmark
scripts and example host files are not tests, so they are never collected.
"""

collect_ignore = ["benchmarks", "examples", "media"]
