"""The models' side, shared by the trainer and the backtest, importing no service: cleaning (and units),
the model slot of a model key, predictions waiting for labels, holdout, and the prequential step.
"""
