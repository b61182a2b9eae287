"""The BentoML scoring service for leadscore."""
