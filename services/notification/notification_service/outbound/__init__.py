"""Delivering the events of the outbox (issue 16) to the platform: signed HTTP (``http.py``) and RabbitMQ
(``amqp.py``), by the worker (``worker.py``) that the API process and the stand-alone dispatcher run."""
