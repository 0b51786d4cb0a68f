"""The autoscaler: one decision-maker per swarm (docs/scaling.md).

labels.py reads a function's scaling labels, measure.py turns every sidecar's
/metrics into samples, policy.py decides; service.py is the IO around them.
"""
