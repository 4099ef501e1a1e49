"""The GitOps repository: where each file lives (layout), image values and their edits, the
chart's schema, reading a checkout's files safely, and the template `gitops init` writes.
"""
