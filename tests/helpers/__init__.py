"""Helpers the test modules share: builders, clients, processes; fixtures stay in tests/conftest.py."""
