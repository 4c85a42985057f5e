"""Scheduling only: one case's rounds (single) and load points (load/); both send
through pytest_mmbench.request."""
