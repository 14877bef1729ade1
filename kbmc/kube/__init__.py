"""The one layer that talks to Kubernetes: clients per cluster, with kbmc's user agent and timeouts."""
