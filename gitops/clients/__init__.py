"""Clients of the systems the CLI talks to: git (the runner, its verbs, history queries and the
compare-and-swap push loop), GitHub, Kubernetes through EKS, CodePipeline, and where tokens come
from. No module here knows a use case.
"""
