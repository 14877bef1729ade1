"""The control-plane operator: kopf at the edge, a work queue of Clusters, one reconcile."""
