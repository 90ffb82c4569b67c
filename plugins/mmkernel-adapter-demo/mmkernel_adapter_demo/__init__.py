"""Simulated devices named as in Micro-Manager's DemoCamera and Utilities modules."""
