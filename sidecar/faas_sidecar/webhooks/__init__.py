"""Webhooks: signature checks configured by ``swarmfaas.webhook.*`` labels."""
