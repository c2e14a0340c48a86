"""Metrics and the feature networks behind them; every module here registers itself."""
