"""The dispatcher: ``worker`` (the ``Dispatcher``: loop, maintenance, entry point ``python -m
notification_service.dispatch``), ``batch`` (one batch: the message lifecycle in order), ``gating`` (rate gates),
``outcomes`` (the Meta error policy), ``probes`` (holds and how they converge), ``context`` (what they share)."""
