"""Helpers shared by several test files: test devices, plugin and recording helpers, paths."""
