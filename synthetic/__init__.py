"""The synthetic CRM: a B2B world from a causal story (generator, journeys, catalogue) and the
live loop that continues it week by week against a running service (`leadscore simulate`)."""
