"""The GitOps repository: where each file lives (layout), image values and their edits, the
chart's schema, reading a checkout's files safely, the template and the repository `gitops init`
creates from it (scaffold), and what every environment runs (inventory, for `gitops status`).
"""
