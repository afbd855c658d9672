"""Benchmarks (`make bench`): BatchStudio jobs against a bare loop over the same model.

Never run as tests; `python -m bench --help` lists the options.
"""
