"""Monitoring: what the service logged, against the reference profile each model version keeps:
drift, calibration, estimated and realised accuracy, alerts and the page that shows them."""
