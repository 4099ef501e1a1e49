"""Access paths: the requests the running system makes, evaluated over the planned IAM policies.

`model` is the data of one path (principal, action, resource, request context, required or
forbidden); `declared` declares the paths of this program's stacks; `evaluator` decides one request
the way AWS documents its policy evaluation; `planned` finds, in a plan's resources, the policies
that govern each request and gives every path its verdict.
"""
