"""API clients with explicit timeouts, no hidden urllib3 retries, and a ``kbmc/`` user agent.

The official client has no per-client default timeout and retries three times inside urllib3, so a hung
API server would take seconds per call. Every client made here fails a call to a hung server within
``connect + read`` seconds; retrying is the caller's decision.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config

from kbmc import __version__
from kbmc.errors import UsageError
from kbmc.settings import Timeouts

DEFAULT_TIMEOUTS = Timeouts()
Api = client.ApiClient
"""The client type, for layers that must not import the Kubernetes client themselves."""


POOL_SIZE = 64
"""Connections kept per client. The default (5 per CPU) is less than the operator's informer watches, which
each hold one, plus its workers: every other request then paid a new TLS handshake on both ends."""
TOKEN_REFRESH_SECONDS = 30.0
"""How often credentials are read again (exec plugins, rotated token files). The client's own hook runs on
every request, re-parsing the kubeconfig entry and scanning the environment for proxies: a few percent of
the operator's CPU for nothing."""


def _at_most_every(seconds: float, hook: Callable[[Any], None]) -> Callable[[Any], None]:
    current, last = hook, -seconds

    def throttled(configuration: Any) -> None:
        nonlocal current, last
        now = time.monotonic()
        if now - last >= seconds:
            last = now
            current(configuration)
            # the client's hooks install a fresh copy of themselves each time they run: keep it behind this one
            fresh = configuration.refresh_api_key_hook
            if fresh is not None and fresh is not throttled:
                current = fresh
            configuration.refresh_api_key_hook = throttled

    return throttled


def user_agent(component: str) -> str:
    """``kbmc/<version> (<component>)``; the node agent passes its own product name instead."""
    return f"kbmc/{__version__} ({component})"


def context_namespace(kubeconfig: Path | str, context: str | None = None) -> str:
    """The namespace a kubeconfig context names (kubectl's default for ``-n``), else ``default``."""
    try:
        chosen = _loader(kubeconfig, context).current_context
    except (config.ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"kubeconfig {kubeconfig}: {exc}") from exc
    return str((chosen.get("context") or {}).get("namespace") or "default")


def _loader(kubeconfig: Path | str, context: str | None) -> Any:
    """One context of a kubeconfig path list (``os.pathsep``-separated, as ``$KUBECONFIG``) merged as kubectl
    merges it: the client's own merger (the first entry of a name wins, missing files are skipped), with
    current-context taken from the first file that sets one (the merger takes the last)."""
    merger = config.kube_config.KubeConfigMerger(str(kubeconfig))
    if merger.config is None:
        raise UsageError(f"kubeconfig {kubeconfig}: no such file" if os.pathsep not in str(kubeconfig) else
                         f"kubeconfig list {kubeconfig}: none of its files exists")
    name = context or next((c["current-context"] for c in merger.config_files.values() if c.get("current-context")),
                           None)
    known = [c.value.get("name") for c in merger.config.value.get("contexts") or []]
    if not name:
        raise UsageError(f"kubeconfig {kubeconfig}: no current-context: pass --context (it has: "
                         f"{', '.join(map(str, known)) or 'none'})")
    if name not in known:
        raise UsageError(f"kubeconfig {kubeconfig}: no context {name!r} (it has: "
                         f"{', '.join(map(str, known)) or 'none'})")
    return config.kube_config.KubeConfigLoader(config_dict=merger.config, active_context=name, config_base_path=None)


def new_client(kubeconfig: Path | str, context: str | None = None, *, agent: str,
               timeouts: Timeouts = DEFAULT_TIMEOUTS, kubeconfig_dict: dict[str, Any] | None = None
               ) -> client.ApiClient:
    """An ``ApiClient`` for one context of a kubeconfig file or path list (or of an already parsed kubeconfig)."""
    configuration = client.Configuration()
    try:
        if kubeconfig_dict is None and not str(kubeconfig) and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # the operator in its Deployment
        elif kubeconfig_dict is not None:
            config.load_kube_config_from_dict(kubeconfig_dict, context=context,
                                              client_configuration=configuration, persist_config=False)
        else:
            _loader(kubeconfig, context).load_and_set(configuration)
    except (config.ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as exc:
        source = "the kubeconfig given" if kubeconfig_dict is not None else f"kubeconfig {kubeconfig}"
        raise UsageError(f"{source}, context {context or '(current)'}: {exc}") from exc
    hook = configuration.refresh_api_key_hook
    if hook is not None:
        configuration.refresh_api_key_hook = _at_most_every(TOKEN_REFRESH_SECONDS, hook)
    configuration.connection_pool_maxsize = POOL_SIZE
    configuration.retries = urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False)
    api = client.ApiClient(configuration)
    api.user_agent = agent
    rest = api.rest_client
    plain_request = rest.request

    def request(method: str, url: str, headers: Any = None, body: Any = None, post_params: Any = None,
                _request_timeout: Any = None) -> Any:
        return plain_request(method, url, headers=headers, body=body, post_params=post_params,
                             _request_timeout=_request_timeout or default_timeout(api, method))

    rest.request = request
    api.kbmc_timeouts = timeouts
    return api


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def default_timeout(api: client.ApiClient, method: str) -> tuple[float, float] | None:
    """(connect, read) seconds of a request without its own timeout: a write waits longer for its answer."""
    timeouts: Timeouts | None = getattr(api, "kbmc_timeouts", None)
    if timeouts is None:
        return None
    return timeouts.connect, timeouts.write if method.upper() in WRITES else timeouts.read
