"""Governance of promotions: freeze files and windows, the CodePipeline transition switch, the
block list, the trailers every commit carries, the audit history read from them, DORA metrics,
and the guard rails the repository must have.
"""
