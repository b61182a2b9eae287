"""Point-in-time lead features, the lead data contract and the demo data generator."""
