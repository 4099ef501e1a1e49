"""Quotas: every count, size and structure AWS limits, measured on the plan's resources.

`limits` is the data (AWS's documented values, hard or adjustable, Service Quotas codes, sources);
`usage` measures a plan against it and gives each limit its verdict. Like `policy.access`, it reads
only resource types, inputs and where they land, so it runs on the plan's resources or its JSON.
"""
