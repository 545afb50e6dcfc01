"""Backtests: a stream's archived events and labels replayed, in event order, through fresh models.

``rows`` orders what the lake holds, ``core`` replays it (pure, no I/O), ``report`` writes the
table, the JSON report and the plot, ``cli`` is ``driftline backtest``.
"""
