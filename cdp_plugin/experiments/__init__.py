"""Experiments: variant and holdout assignment at the activation gate, exposures, conversions."""
