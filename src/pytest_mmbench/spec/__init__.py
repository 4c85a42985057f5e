"""Inputs, parsed once into typed specs: hosts.toml endpoints, case files, load plans."""
