"""Key material: the secrets consent, minimization, erasure and callbacks share.

The promise: personal data leaves the pipeline only as keyed pseudonyms or
encrypted under a key of its subject's own, and erasing a subject destroys
that key, so every encrypted copy becomes unreadable at once. No secret is
ever read from ``rules/``, logged, or written into an error message.

* :mod:`~cdp_plugin.keys.master` loads the master keys (environment, key file
  or a development file), orders them for rotation and derives subkeys (HKDF);
* :mod:`~cdp_plugin.keys.pseudonyms` makes keyed pseudonyms of subjects and
  field values (:class:`~cdp_plugin.keys.pseudonyms.Pseudonymizer`);
* :mod:`~cdp_plugin.keys.keyring` keeps per-subject data keys: field
  encryption, key wrapping, rotation and crypto-shredding;
* :mod:`~cdp_plugin.keys.audit_signer` loads the key that signs audit
  checkpoints;
* :mod:`~cdp_plugin.keys.secret_files` creates key files owner-only, never
  overwriting one.
"""
