"""YAML as the GitOps repository holds it: documents read within size, depth and node bounds,
go-yaml v2's resolution rules (what Helm reads a scalar as), and how a YAML error is shown.
"""
