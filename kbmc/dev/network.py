"""Addresses of the bed, derived from a cluster's index (control = 0, k8s-i = i).

- Node InternalIP: ``127.<i>.0.1`` (loopback, so a process can listen on it);
- LoadBalancer pool: ``127.<i>.0.10`` upwards through ``127.<i>.127.254``, skipping .0 and .255 (as MetalLB
  would);
- Pod IPs: ``10.<100+i>.x.y`` for pods only reported Running (not loopback: the Endpoints API rejects loopback
  addresses); ``127.<i>.128.1`` upwards for pods run as processes, which must be reachable on this machine
  (a Service selecting them gets no Endpoints for them);
- Service cluster IPs: ``10.<i>.0.0/16``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Network:
    index: int

    @property
    def node_ip(self) -> str:
        return f"127.{self.index}.0.1"

    @property
    def service_cidr(self) -> str:
        return f"10.{self.index}.0.0/16"

    def lb_pool(self) -> Iterator[str]:
        for address in ipaddress.ip_network(f"127.{self.index}.0.0/17").hosts():
            last = int(address) & 0xFF
            if int(address) & 0xFFFF >= 10 and last not in (0, 255):
                yield str(address)

    def process_pod_ips(self) -> Iterator[str]:
        for address in ipaddress.ip_network(f"127.{self.index}.128.0/17").hosts():
            if int(address) & 0xFF not in (0, 255):
                yield str(address)

    def pod_ips(self) -> Iterator[str]:
        for address in ipaddress.ip_network(f"10.{100 + self.index}.0.0/16").hosts():
            if int(address) & 0xFF not in (0, 255) and int(address) & 0xFFFF >= 256:
                yield str(address)


def for_index(index: int) -> Network:
    return Network(index)


def node_name(cluster: str) -> str:
    return f"{cluster}-node"
