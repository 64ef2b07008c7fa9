"""Test helpers: tiny model builders and cached real models shared by the test suites."""
