"""Experiments: the statistics and analysis of variant comparisons."""
