"""Asynchronous calls: stored in NATS JetStream, delivered by the queue worker.

``message`` encodes a stored request (pure), ``policy`` decides retries and
dead letters (pure), ``labels`` reads the ``swarmfaas.async*`` labels,
``broker`` is the one adapter to NATS, ``worker`` the delivery loop
(``faas-queue-worker``). docs/webhooks.md describes the whole.
"""
