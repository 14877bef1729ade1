"""What kbmc can run of a ComponentDefinition and of a Cluster (pure), field by field.

A definition is Available only if kbmc acts on every part of it: a part it cannot run yet (config templates,
host network, actions other than the four it runs, vars of kinds it does not resolve, ...) makes it Unavailable,
its status naming each. Parts that only declare something a Cluster may ask for (logConfigs, exporter) are
accepted; a Cluster asking for them (enabledLogs, an exporter) is told so in its condition FieldsSupported.
"""

from __future__ import annotations

from kbmc.api.cluster import Cluster, ClusterComponentSpec
from kbmc.api.componentdefinition import Action, ComponentDefinition, ObjectRef, Var
from kbmc.core.versions import matches

RUN_ACTIONS = ("roleProbe", "switchover", "memberJoin", "memberLeave")
"""The lifecycle actions kbmc's agent runs."""
VAR_KINDS = ("serviceVarRef", "componentVarRef", "credentialVarRef")
"""The var sources kbmc resolves."""


def definition_problems(definition: ComponentDefinition, namespace: str) -> list[str]:
    """Why kbmc cannot run ``definition`` (empty: it can). ``namespace``: where kbmc reads script templates."""
    spec = definition.spec
    problems = [f"spec.{field}: {why} are not supported yet" for field, present, why in (
        ("configs", spec.configs, "config templates"),
        ("hostNetwork", spec.host_network, "host-network components"),
        ("serviceRefDeclarations", spec.service_ref_declarations, "references to other services"),
    ) if present]
    provisions = bool(spec.lifecycle_actions and spec.lifecycle_actions.account_provision)
    for account in spec.system_accounts:
        if account.secret_ref is not None:
            problems.append(f"spec.systemAccounts[{account.name}].secretRef: passwords from a Secret of the "
                            "user's are not supported yet (kbmc generates them)")
        elif not account.init_account and not provisions:
            problems.append(f"spec.systemAccounts[{account.name}]: an account that is not initAccount needs the "
                            "accountProvision action to be created (KubeBlocks' rule)")
    if spec.role_arbitrator == "Lorry":
        problems.append("spec.roleArbitrator Lorry: kbmc sets roles from the roleProbe (External) only")
    if spec.pod_management_policy == "OrderedReady":
        problems.append("spec.podManagementPolicy OrderedReady: kbmc creates a component's pods at once (Parallel)")
    if spec.min_ready_seconds:
        problems.append("spec.minReadySeconds: not supported yet (a pod counts once Ready)")
    for volume in spec.volumes:
        if volume.high_watermark:
            problems.append(f"spec.volumes[{volume.name}].highWatermark: not supported yet")
    for rule_index, rule in enumerate(spec.policy_rules):
        if rule.non_resource_urls:
            problems.append(f"spec.policyRules[{rule_index}].nonResourceURLs: kbmc grants namespaced Roles only")
    for script in spec.scripts:
        if script.namespace and script.namespace != namespace:
            problems.append(f"spec.scripts[{script.name}].namespace {script.namespace}: kbmc reads script "
                            f"templates from its own namespace {namespace}")
    seen: set[str] = set()
    for var in spec.vars:
        if var.name in seen:
            problems.append(f"spec.vars[{var.name}]: defined twice")
        seen.add(var.name)
        problems.extend(_var_problems(definition, var))
    problems.extend(_action_problems(definition))
    return problems


def _var_problems(definition: ComponentDefinition, var: Var) -> list[str]:
    where = f"spec.vars[{var.name}]"
    problems = [f"{where}.expression: template expressions are not supported yet"] if var.expression else []
    source = var.value_from
    if source is None:
        return problems
    kinds = [k for k, v in source.model_dump(by_alias=True, exclude_none=True).items() if v is not None]
    if len(kinds) != 1:
        return [*problems, f"{where}.valueFrom: exactly one source is needed (found: {', '.join(kinds) or 'none'})"]
    kind = kinds[0]
    if kind not in VAR_KINDS:
        return [*problems, f"{where}.valueFrom.{kind}: not supported yet (kbmc resolves {', '.join(VAR_KINDS)})"]
    ref: ObjectRef | None = source.service_var_ref or source.component_var_ref or source.credential_var_ref
    assert ref is not None
    if ref.multiple_cluster_object_option is not None:
        problems.append(f"{where}.valueFrom.{kind}.multipleClusterObjectOption: not supported yet")
    if not own(definition, ref):
        return problems  # another component's: checked against the Cluster's components when resolved
    credential = source.credential_var_ref
    if credential is not None and credential.name not in {a.name for a in definition.spec.system_accounts}:
        problems.append(f"{where}.valueFrom.credentialVarRef.name: no system account named {credential.name}")
    service = source.service_var_ref
    if service is not None:
        names = [s.name for s in definition.spec.services]
        if service.name is None and default_service(definition) is None:
            problems.append(f"{where}.valueFrom.serviceVarRef: no name, and the definition has no default service "
                            "(one without serviceName, its only one, or its only pod service)")
        elif service.name is not None and service.name not in names:
            problems.append(f"{where}.valueFrom.serviceVarRef.name: no service named {service.name}")
    return problems


def own(definition: ComponentDefinition, ref: ObjectRef) -> bool:
    """Whether a var reads the definition's own component (no compDef, or one that matches its name, as
    KubeBlocks takes it), rather than another component of the Cluster."""
    return not ref.comp_def or matches(definition.metadata.name or "", ref.comp_def)


def default_service(definition: ComponentDefinition) -> str | None:
    """The service a serviceVarRef without a name means, as KubeBlocks finds it: the one without serviceName
    (Service ``<cluster>-<component>``), else the only one, else the only pod service (KubeBlocks takes the
    Services named ``<cluster>-<component>-*`` for pod services)."""
    services = definition.spec.services
    for candidates in ([s for s in services if not s.service_name], services, [s for s in services if s.pod_service]):
        if len(candidates) == 1:
            return candidates[0].name
    return None


def _action_problems(definition: ComponentDefinition) -> list[str]:
    """Lifecycle actions kbmc does not run, and what an action or role selector names that does not exist."""
    problems: list[str] = []
    containers = [c.name for c in definition.spec.runtime.containers]
    roles = [r.name for r in definition.spec.roles]
    actions = definition.spec.lifecycle_actions
    if actions is not None:
        given = actions.model_dump(by_alias=True, exclude_none=True)
        problems.extend(f"spec.lifecycleActions.{a}: not run by kbmc yet" for a in given if a not in RUN_ACTIONS)
        handlers: dict[str, Action | None] = {
            "roleProbe": actions.role_probe.custom_handler if actions.role_probe else None,
            "memberJoin": actions.member_join.custom_handler if actions.member_join else None,
            "memberLeave": actions.member_leave.custom_handler if actions.member_leave else None,
            "switchover.withCandidate": actions.switchover.with_candidate if actions.switchover else None,
            "switchover.withoutCandidate": actions.switchover.without_candidate if actions.switchover else None}
        for name, action in handlers.items():
            if action is None:
                continue
            if action.container and action.container not in containers:
                problems.append(f"spec.lifecycleActions.{name}.container {action.container}: no such container "
                                f"(the runtime has: {', '.join(containers)})")
            if action.exec_ is None or not action.exec_.command:
                problems.append(f"spec.lifecycleActions.{name}: kbmc runs exec actions with a command only")
        for name, handler in (("memberJoin", actions.member_join), ("memberLeave", actions.member_leave)):
            if handler is not None and handler.custom_handler is None:
                problems.append(f"spec.lifecycleActions.{name}: kbmc runs customHandler only (builtinHandler "
                                f"{handler.builtin_handler or 'unset'} is KubeBlocks' own)")
        if actions.role_probe is not None and actions.role_probe.custom_handler is None:
            problems.append("spec.lifecycleActions.roleProbe: kbmc runs customHandler only (builtinHandler "
                            f"{actions.role_probe.builtin_handler or 'unset'} is KubeBlocks' own)")
        if actions.role_probe is not None and not roles:
            problems.append("spec.lifecycleActions.roleProbe: spec.roles is empty, so no role it prints is known")
    for service in definition.spec.services:
        if service.role_selector and service.role_selector not in roles:
            problems.append(f"spec.services[{service.name}].roleSelector {service.role_selector}: not a role of "
                            f"spec.roles (it has: {', '.join(roles) or 'none'})")
    return problems


def unsupported_fields(cluster: Cluster) -> list[str]:
    """The Cluster's fields kbmc keeps but does not act on yet, each named (FieldsSupported)."""
    spec = cluster.spec
    out = [f"spec.{field}: not supported yet" for field, present in (
        ("shardingSpecs", spec.sharding_specs), ("services", spec.services), ("backup", spec.backup),
        ("clusterDefinitionRef", spec.cluster_definition_ref), ("clusterVersionRef", spec.cluster_version_ref),
        ("topology", spec.topology), ("tenancy", spec.tenancy), ("availabilityPolicy", spec.availability_policy),
        ("replicas", spec.replicas is not None), ("resources", spec.resources), ("storage", spec.storage),
        ("network", spec.network)) if present]
    if spec.affinity is not None and spec.affinity.tenancy == "DedicatedNode":
        out.append("spec.affinity.tenancy DedicatedNode: not supported yet")
    for component in spec.component_specs:
        out.extend(_component_unsupported(component))
    return out


def _component_unsupported(component: ClusterComponentSpec) -> list[str]:
    where = f"spec.componentSpecs[{component.name}]"
    out = [f"{where}.{field}: not supported yet" for field, present in (
        ("enabledLogs", component.enabled_logs), ("tls", component.tls), ("issuer", component.issuer),
        ("serviceRefs", component.service_refs), ("classDefRef", component.class_def_ref),
        ("instanceUpdateStrategy", component.instance_update_strategy),
        ("parallelPodManagementConcurrency", component.parallel_pod_management_concurrency is not None),
        ("userResourceRefs", component.user_resource_refs), ("instances", component.instances),
        ("offlineInstances", component.offline_instances), ("stop", component.stop)) if present]
    out.extend(f"{where}.systemAccounts[{a.name}].secretRef: not supported yet (kbmc generates the password)"
               for a in component.system_accounts if a.secret_ref is not None)
    if component.disable_exporter is False or component.monitor:
        out.append(f"{where}.{'monitor' if component.monitor else 'disableExporter'}: kbmc does not set up metrics "
                   "scraping yet (disableExporter: true is what it does)")
    if component.pod_update_policy in ("StrictInPlace", "PreferInPlace"):
        out.append(f"{where}.podUpdatePolicy {component.pod_update_policy}: kbmc replaces pods (Recreate)")
    if component.affinity is not None and component.affinity.tenancy == "DedicatedNode":
        out.append(f"{where}.affinity.tenancy DedicatedNode: not supported yet")
    return out
