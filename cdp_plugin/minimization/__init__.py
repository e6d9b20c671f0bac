"""Minimization: every payload carries only what the granted purposes need.

The promise: a field reaches a destination only if a granted purpose names
it (when the matching rules are allowlists, the default), and then only in
the form the granted purposes ask for (kept, encrypted, generalized,
truncated or hashed; the most permissive wins); strings that are kept pass
a personal-data guard. Whatever cannot be
handled is dropped, never passed through, and the summary of what was done
names paths and rules, never values.

* :mod:`~cdp_plugin.minimization.plan` compiles the field policies of
  ``rules/minimization.yaml`` into a plan per event kind and granted purposes;
* :mod:`~cdp_plugin.minimization.minimizer` walks a payload along a plan and
  applies each field's action;
* :mod:`~cdp_plugin.minimization.generalize` computes the coarser values of
  ``generalize`` (time to hour/day/month, location, age band, bucket);
* :mod:`~cdp_plugin.minimization.pii_guard` finds personal data in free text
  and replaces it by type markers, with the candidates found by
  :mod:`~cdp_plugin.minimization.pii_patterns` and confirmed by the check
  digits and ranges of :mod:`~cdp_plugin.minimization.pii_checks`;
* :mod:`~cdp_plugin.minimization.deliveries` minimizes one event: its generic
  payload and one delivery per destination with rules of its own.

Encryption uses the per-subject data keys of :mod:`cdp_plugin.keys.keyring`.
"""
