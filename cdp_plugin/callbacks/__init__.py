"""Preference-center callbacks: signed webhooks in, withdrawal effects and erasure out.

:class:`~cdp_plugin.callbacks.app.CallbackApp` is the WSGI application;
:func:`~cdp_plugin.callbacks.preferences.apply_preferences`,
:func:`~cdp_plugin.callbacks.subjects.export_subject`,
:func:`~cdp_plugin.callbacks.subjects.erase_subject` and
:class:`~cdp_plugin.callbacks.outbox.Outbox` are the same services for a
host that calls them directly.
"""
