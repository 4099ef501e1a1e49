"""Promotion use cases: promote a service's image into an environment (with its guards: freezes,
the block list), write its proposal, record its provenance; revert a bad version.
"""
