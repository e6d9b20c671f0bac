"""Experiments: variant and holdout assignment at the activation gate, exposures,
conversions, and the statistics that compare the arms."""
