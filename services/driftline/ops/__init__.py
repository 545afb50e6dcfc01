"""Launchers for the real programs beside driftline (Prometheus, Alertmanager, Mosquitto), for the stack and tests."""
