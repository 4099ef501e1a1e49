"""Verification use cases: prove that a cluster runs a GitOps revision, and report the outcome
as a commit status and deployment on GitHub.
"""
