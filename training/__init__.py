"""Training, calibration, evaluation and model registry for leadscore."""
