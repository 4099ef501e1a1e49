"""GitOps tooling run by the delivery pipelines: promote, status, verify, init (python -m gitops).

The package is layered; a module imports only from its own layer or the layers below it:

    cli, commands/       argparse, running a command, rendering its result (one module per command)
    promotion/           use cases: promote, its guards and proposal text, provenance, revert
    verification/        use cases: verify that a cluster runs a revision, report it on the commit
    governance/          use cases and rules: freezes and windows, transitions, block list,
                         trailers, history, DORA metrics, the repository's guard rails, the
                         pipeline creation run
    repo/                the GitOps repository: layout, values, schema, safe file reading, the
                         template and init's scaffold, the inventory status reads
    yaml/                YAML documents within bounds, go-yaml's rules, error display
    clients/             git (runner, verbs, history queries, the push loop), GitHub, Kubernetes,
                         CodePipeline, ECR (bounded AWS clients), credentials
    errors, output       every exit code; how results are printed (used by every layer)

clients/, repo/ and yaml/ never import a use-case package or commands/; use cases never import
commands/; and no gitops module imports another in a cycle (tests/gitops/test_layers.py). A
command's `run` parses, calls one use-case function that holds the whole sequence (promote:
gitops.promotion.promote.promote), and renders what it returns.
"""
