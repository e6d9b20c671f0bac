"""Experiments: the rules file, assignment at the gate, exposure, conversions, reports."""
