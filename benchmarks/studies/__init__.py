"""Research and speed studies: one script per question, each run as `python -m reasonkit.benchmarks.studies.NAME`.

The library (loaders, runner, metrics, report, synthetic suites) never imports from here; each study's
docstring says which question it answers and where BENCHMARKS.md or docs/studies/ keeps its figures.
"""
