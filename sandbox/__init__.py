"""The sandbox: every flow of the gitops CLI on this machine, with no cloud and no GitHub.

`make sandbox` (`python -m sandbox`) starts, on 127.0.0.1, the servers the tests use, seeds a GitOps
repository and prints the commands of the day-to-day flow. The servers, one module each, all on
`loopback.LoopbackServer`: `git_http` (a smart-HTTP git server), `github_api` (GitHub's REST API as the
CLI calls it), `eks_api` (EKS's DescribeCluster), `kube_api` (a cluster's Kubernetes API as verify reads it).
"""
