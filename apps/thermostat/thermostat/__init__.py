"""Thermostat: the bundled demo DT application."""
