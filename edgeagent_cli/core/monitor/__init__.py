"""Watching servers and deployments: probes for each kind of endpoint, snapshots, thresholds, alerts."""
