"""The parts of the audit report: record handlers, the timeline and one module per section.

:mod:`cdp_plugin.audit.report` puts them together; import the public names from there.
"""
