"""Deployments: a router model and specialist agents from one YAML file (spec, plan, route, run)."""
