"""kbmc: run one database Cluster across several Kubernetes clusters."""

__version__ = "0.1.0"
