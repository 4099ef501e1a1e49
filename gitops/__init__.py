"""GitOps tooling run by the delivery pipelines: promote, status, verify, init (python -m gitops)."""
