"""kbmc's agent in a database pod (pure: the containers it adds, and the configuration the agent reads).

A pod whose definition has lifecycle actions gets two containers, as KubeBlocks' lorry / kbagent add theirs:

- ``kbmc-agent`` (kbmc's image, ``kbmc pod-agent``): talks to its own data plane's API server only, with the
  pod's ServiceAccount. It runs the roleProbe every periodSeconds and labels its own pod with the role when it
  changes, and runs the actions the operator asks for in the pod's ``kbmc.io/action-request`` annotation,
  answering in ``kbmc.io/action-result``.
- ``kbmc-actions`` (the action's image: the database's tools): a shell loop that runs each action the agent
  hands it through a shared emptyDir, with the action container's environment and volumes (scripts, data).

So the operator never calls a pod's address or execs into it, and an action runs where its tools are, on any
kubelet (no shared process namespace, no privileges)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbmc.api.componentdefinition import Action, ComponentDefinition
from kbmc.core.members import action

AGENT = "kbmc-agent"
RUNNER = "kbmc-actions"
VOLUME = "kbmc-actions"
ACTIONS_DIR = "/kbmc/actions"
CONFIG_ENV = "KBMC_AGENT_CONFIG"
ACTIONS = ("switchover", "memberJoin", "memberLeave")
AGENT_RULE = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]}
"""What the agent is granted through the Cluster's Role (kbmc holds it in every data plane)."""
RUNNER_SCRIPT = f"""cd {ACTIONS_DIR}
# kbmc's action runner: runs each <id>.sh the agent puts here, with this container's tools, environment and
# volumes; <id>.out / <id>.err hold its output and <id>.rc its exit code (written last).
while :; do
  for request in *.sh; do
    [ -e "$request" ] || continue
    id="${{request%.sh}}"
    limit=$(sed -n 's/^# timeout=//p' "$request")
    if command -v timeout >/dev/null 2>&1 && [ -n "$limit" ]; then
      timeout "$limit" sh "$request" > "$id.out" 2> "$id.err" && code=0 || code=$?
    else
      sh "$request" > "$id.out" 2> "$id.err" && code=0 || code=$?
    fi
    echo "$code" > "$id.rc.tmp" && mv "$id.rc.tmp" "$id.rc"
    rm -f "$request"
  done
  sleep 0.2
done
"""


@dataclass(frozen=True)
class Command:
    command: tuple[str, ...]
    timeout: int


@dataclass(frozen=True)
class AgentConfig:
    """What the agent is told (env ``KBMC_AGENT_CONFIG``): the roleProbe, the actions it may run, the roles."""

    probe: Command | None = None
    period: int = 5
    initial_delay: int = 0
    actions: Mapping[str, Command] = field(default_factory=dict)
    access_modes: Mapping[str, str] = field(default_factory=dict)
    """Role -> ReadWrite, Readonly or None (workloads.kubeblocks.io/access-mode)."""

    def dump(self) -> str:
        def command(c: Command | None) -> Any:
            return None if c is None else {"command": list(c.command), "timeout": c.timeout}

        return json.dumps({"probe": command(self.probe), "period": self.period, "initialDelay": self.initial_delay,
                           "actions": {k: command(v) for k, v in self.actions.items()},
                           "accessModes": dict(self.access_modes)})  # the definition's order of roles

    @staticmethod
    def parse(text: str) -> AgentConfig:
        raw = json.loads(text)

        def command(item: Any) -> Command | None:
            return None if not item else Command(tuple(item["command"]), int(item["timeout"]))

        actions = {k: c for k, v in (raw.get("actions") or {}).items() if (c := command(v)) is not None}
        return AgentConfig(command(raw.get("probe")), int(raw.get("period", 5)), int(raw.get("initialDelay", 0)),
                           actions, dict(raw.get("accessModes") or {}))


def _command(action: Action | None, default_timeout: int) -> Command | None:
    if action is None or action.exec_ is None:  # a definition with other actions is Unavailable
        return None
    return Command((*action.exec_.command, *action.exec_.args), action.timeout_seconds or default_timeout)


def config(definition: ComponentDefinition) -> AgentConfig | None:
    """The agent's configuration, or None when the definition has no action kbmc runs (then no agent)."""
    actions = definition.spec.lifecycle_actions
    if actions is None:
        return None
    probe = actions.role_probe
    commands = {name: c for name in ACTIONS if (c := _command(action(definition, name), 30)) is not None}
    probe_command = _command(probe.custom_handler if probe else None, (probe.timeout_seconds or 3) if probe else 3)
    if probe_command is None and not commands:
        return None
    modes = {r.name: "ReadWrite" if r.writable else "Readonly" if r.serviceable else "None"
             for r in definition.spec.roles}
    return AgentConfig(probe_command, (probe.period_seconds or 5) if probe else 5,
                       (probe.initial_delay_seconds or 0) if probe else 0, commands, modes)


def action_container(definition: ComponentDefinition) -> str:
    """The container whose image, environment and volumes actions run with: the roleProbe's (or the first
    action's) ``container``, else the first container."""
    for name in ("roleProbe", *ACTIONS):
        found = action(definition, name)
        if found is not None and found.container:
            return found.container
    return definition.spec.runtime.containers[0].name


def containers(definition: ComponentDefinition, pod_containers: list[dict[str, Any]], image: str
               ) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The agent's two containers and their shared volume for a pod whose containers are ``pod_containers``
    (as built: env and envFrom resolved), or None when the definition needs no agent."""
    settings = config(definition)
    if settings is None:
        return None
    wanted = action_container(definition)
    source = next((c for c in pod_containers if c["name"] == wanted), pod_containers[0])
    mount = {"name": VOLUME, "mountPath": ACTIONS_DIR}
    field_env = [{"name": n, "valueFrom": {"fieldRef": {"fieldPath": f}}}
                 for n, f in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"))]
    small = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
    agent = {"name": AGENT, "image": image, "command": ["kbmc", "pod-agent"],
             "env": [*field_env, {"name": CONFIG_ENV, "value": settings.dump()},
                     {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
             "volumeMounts": [mount], "resources": small,
             "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                 "runAsNonRoot": True, "runAsUser": 65532, "capabilities": {"drop": ["ALL"]}}}
    runner = {"name": RUNNER, "image": action_image(definition, source),
              "command": ["/bin/sh", "-c", RUNNER_SCRIPT],
              "env": list(source.get("env") or []), "envFrom": list(source.get("envFrom") or []),
              "volumeMounts": [*(source.get("volumeMounts") or []), mount], "resources": small}
    return [agent, runner], {"name": VOLUME, "emptyDir": {}}


def action_image(definition: ComponentDefinition, source: Mapping[str, Any]) -> str:
    """The image actions run in: the roleProbe's (or an action's) ``image``, else the action container's."""
    for name in ("roleProbe", *ACTIONS):
        found = action(definition, name)
        if found is not None and found.image:
            return found.image
    return str(source["image"])
