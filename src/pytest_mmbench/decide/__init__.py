"""Decisions from a report: regression gate, requirements, the deployment frontier."""
