"""Delivery of forwarded events to the destinations bound in ``delivery:``:
targets (:mod:`~cdp_plugin.delivery.targets`, :mod:`~cdp_plugin.delivery.kinds`),
the hand-over inside the unit of work (:mod:`~cdp_plugin.delivery.queue`), the
sender (:mod:`~cdp_plugin.delivery.sender`) and cancellation on withdrawal
(:mod:`~cdp_plugin.delivery.cancel`)."""
