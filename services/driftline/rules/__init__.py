"""The rules every service and tool applies alike, importing no service: scores, labels, model keys,
the concept and data-drift judges and their detectors, dedupe, and the metric names.

The trainer judges and the monitor reports with the same code; a backtest scores as the monitor does.
"""
