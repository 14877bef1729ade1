"""Which ComponentDefinition, service version and images a Cluster component runs, by KubeBlocks 0.9's rules
(pure).

- ``componentDef`` names a definition exactly, or else is a prefix (or a regular expression) of several names
  (``matches``: KubeBlocks' CompDefMatched); an exact name wins over the others.
- A definition supports its own ``serviceVersion`` and the releases that the rules of a ComponentVersion give
  it (a rule whose ``compDefs`` matches its name). A requested ``serviceVersion`` is compared as KubeBlocks
  compares them (``compatible``: major.minor.patch equal; a pre-release asked for must be equal too); none
  asked for: the highest version any candidate supports. Among the candidates supporting it, the greatest
  name (string order) is used.
- Images: per container, the image of the release (of every ComponentVersion compatible with the definition)
  whose serviceVersion is the one chosen (an equal string first, then the greatest release name); a container
  no release names keeps the definition's image, if the definition's own serviceVersion is compatible. A
  container with no image from either is an error naming it.
- A choice is pinned (the Cluster's annotation ``kbmc.io/definitions``): while the component's componentDef
  and serviceVersion are unchanged and the pinned definition still supports the pinned version, a new
  definition or release does not move a running Cluster (as KubeBlocks resolves once, then keeps the
  Component's choice).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import semver

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import CompatibilityRule, ComponentVersion
from kbmc.core.names import DEFINITIONS

_REGEX_META = set("\\.+*?()|[]{}^$")


class ChoiceError(ValueError):
    """No definition, version or image fits; ``reason`` is the condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Choice:
    name: str
    """The ComponentDefinition's name."""
    service_version: str
    """The service version chosen ("" when neither the definition nor a release has one)."""
    images: Mapping[str, str] = field(default_factory=dict)
    """Container name -> image, for every container and init container of the definition."""


def matches(name: str, pattern: str) -> bool:
    """KubeBlocks' CompDefMatched: ``pattern`` is a prefix of ``name``, or a regular expression (one with a
    metacharacter) found in it."""
    if name.startswith(pattern):
        return True
    if not _REGEX_META & set(pattern):
        return False
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def candidates(pattern: str, names: list[str] | Mapping[str, object]) -> list[str]:
    """The definitions ``pattern`` names: the one of that exact name, else every one it matches (sorted)."""
    if pattern in names:
        return [pattern]
    return sorted(n for n in names if matches(n, pattern))


def parse(version: str) -> semver.Version | None:
    """A strict semantic version (a leading ``v`` allowed, as KubeBlocks parses); None when it is not one."""
    try:
        return semver.Version.parse(version.removeprefix("v"))
    except (ValueError, TypeError):
        return None


def compatible(required: str | None, provided: str) -> bool:
    """KubeBlocks' CompareServiceVersion: nothing required fits any; else major.minor.patch are equal and, when
    ``required`` has a pre-release, the whole version is."""
    if not required:
        return True
    wanted, offered = parse(required), parse(provided)
    if wanted is None or offered is None:
        return required == provided
    if (wanted.major, wanted.minor, wanted.patch) != (offered.major, offered.minor, offered.patch):
        return False
    return not wanted.prerelease or wanted.compare(offered) == 0


def _order(version: str) -> tuple[int, semver.Version | str]:
    parsed = parse(version)
    return (1, parsed) if parsed is not None else (0, version)


def version_problems(cmpv: ComponentVersion, definitions: Mapping[str, ComponentDefinition]) -> list[str]:
    """What makes a ComponentVersion unusable, as KubeBlocks checks it: rules that do not compile, releases no
    rule gives to an existing definition, versions that are not semantic, images of containers a definition
    it is given to does not have."""
    problems: list[str] = []
    given: dict[str, set[str]] = {}
    for index, rule in enumerate(cmpv.spec.compatibility_rules):
        for pattern in rule.comp_defs:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"spec.compatibilityRules[{index}].compDefs {pattern!r}: not a regular expression "
                                f"({exc})")
                continue
            for name in candidates(pattern, definitions):
                for release in rule.releases:
                    given.setdefault(release, set()).add(name)
    for item in cmpv.spec.releases:
        where = f"spec.releases[{item.name}]"
        if parse(item.service_version) is None:
            problems.append(f"{where}.serviceVersion {item.service_version}: not a semantic version (x.y.z)")
        users = given.get(item.name)
        if not users:
            problems.append(f"{where}: no compatibility rule gives it to an existing ComponentDefinition")
            continue
        for name in sorted(users):
            runtime = definitions[name].spec.runtime
            containers = {c.name for c in (*runtime.containers, *runtime.init_containers)}
            for container in sorted(set(item.images) - containers):
                problems.append(f"{where}.images: container {container} is not in ComponentDefinition {name}")
    return problems


def _given(name: str, rule: CompatibilityRule, definitions: Mapping[str, ComponentDefinition]) -> bool:
    """Whether ``rule`` gives its releases to the definition ``name`` (a pattern naming a definition exactly
    gives them to that one only)."""
    return any(name in candidates(p, definitions) for p in rule.comp_defs)


def compatible_versions(name: str, versions: Mapping[str, ComponentVersion],
                        definitions: Mapping[str, ComponentDefinition]) -> list[ComponentVersion]:
    """The ComponentVersions with a rule for the definition ``name``."""
    return [cmpv for _, cmpv in sorted(versions.items())
            if any(_given(name, rule, definitions) for rule in cmpv.spec.compatibility_rules)]


def supported(name: str, definitions: Mapping[str, ComponentDefinition], versions: list[ComponentVersion]) -> set[str]:
    """The service versions the definition ``name`` supports: its own, and those of the releases rules give it."""
    definition = definitions[name]
    out = {definition.spec.service_version} if definition.spec.service_version else set()
    for cmpv in versions:
        releases = {r.name: r.service_version for r in cmpv.spec.releases}
        for rule in cmpv.spec.compatibility_rules:
            if _given(name, rule, definitions):
                out.update(releases[r] for r in rule.releases if r in releases)
    return out


def choose(pattern: str, wanted: str | None, definitions: Mapping[str, ComponentDefinition],
           versions: Mapping[str, ComponentVersion], pinned: tuple[str, str] | None = None) -> Choice:
    """The definition, version and images a component with ``componentDef: pattern`` and ``serviceVersion:
    wanted`` runs; ``pinned``: (name, version) chosen before for the same pattern and wanted version."""
    names = candidates(pattern, definitions)
    if not names:
        raise ChoiceError("ComponentDefinitionNotFound", f"no ComponentDefinition is named {pattern} or matches it "
                          "(by prefix or regular expression)")
    offers = {n: supported(n, definitions, compatible_versions(n, versions, definitions)) for n in names}
    if pinned is not None and pinned[0] in offers and (pinned[1] in offers[pinned[0]] or not offers[pinned[0]]):
        name, version = pinned
    else:
        by_version: dict[str, set[str]] = {}
        for n, offered in offers.items():
            for v in offered or {""}:
                if (v == "" and not wanted) or (v and compatible(wanted, v)):
                    by_version.setdefault(v, set()).add(n)
        if wanted and wanted in by_version:
            version = wanted
        elif wanted or not by_version:
            said = "; ".join(f"{n}: {', '.join(sorted(v, key=_order)) or 'none'}" for n, v in sorted(offers.items()))
            raise ChoiceError("ServiceVersionUnsupported", (
                f"serviceVersion {wanted}: no ComponentDefinition for {pattern} supports it (supported: {said})"
                if wanted else f"no ComponentDefinition for {pattern} supports a service version ({said})"))
        else:
            version = max(by_version, key=_order)
        name = max(by_version[version])
    return Choice(name, version, images(definitions[name], version,
                                        compatible_versions(name, versions, definitions)))


def images(definition: ComponentDefinition, version: str, versions: list[ComponentVersion]) -> dict[str, str]:
    """Container name -> image for ``definition`` running ``version`` (see the module's rules)."""
    found: dict[str, list[tuple[bool, str, str, str]]] = {}
    for cmpv in versions:
        for release in cmpv.spec.releases:
            if version and compatible(version, release.service_version):
                for container, image in release.images.items():
                    found.setdefault(container, []).append(
                        (release.service_version == version, release.name, release.service_version, image))
    picked = {container: max(options) for container, options in found.items()}
    if len({p[2] for p in picked.values()}) > 1:
        raise ChoiceError("ServiceVersionUnsupported", (
            f"serviceVersion {version}: the releases matched for ComponentDefinition {definition.metadata.name} "
            "are of several versions: " + ", ".join(f"{c} from {p[1]} ({p[2]})" for c, p in sorted(picked.items()))))
    own = not version or compatible(version, definition.spec.service_version or "")
    out: dict[str, str] = {}
    runtime = definition.spec.runtime
    for each in (*runtime.init_containers, *runtime.containers):
        if each.name in picked:
            out[each.name] = picked[each.name][3]
        elif each.image and (own or not versions):
            out[each.name] = each.image
        else:
            raise ChoiceError("ImageNotFound", (
                f"ComponentDefinition {definition.metadata.name}: no image for container {each.name} with "
                f"serviceVersion {version or 'unset'} (neither the definition nor a ComponentVersion release "
                "gives one)"))
    return out


def with_images(definition: ComponentDefinition, chosen: Mapping[str, str]) -> ComponentDefinition:
    """``definition`` whose containers run the ``chosen`` images (itself when they already do)."""
    runtime = definition.spec.runtime
    if all(chosen.get(c.name) == c.image for c in (*runtime.init_containers, *runtime.containers)):
        return definition
    runtime = runtime.model_copy(update={
        "containers": [c.model_copy(update={"image": chosen.get(c.name, c.image)}) for c in runtime.containers],
        "init_containers": [c.model_copy(update={"image": chosen.get(c.name, c.image)})
                            for c in runtime.init_containers]})
    return definition.model_copy(update={"spec": definition.spec.model_copy(update={"runtime": runtime})})


@dataclass(frozen=True)
class Pin:
    """A choice made before: for ``componentDef: pattern`` and ``serviceVersion: wanted``, ``resolved`` (name,
    version)."""

    pattern: str
    wanted: str
    resolved: tuple[str, str]


def read_pins(annotations: Mapping[str, str]) -> dict[str, Pin]:
    """The pins of the annotation ``kbmc.io/definitions`` (none when it is absent or not kbmc's JSON: the
    components are then chosen afresh)."""
    try:
        raw = json.loads(annotations.get(DEFINITIONS) or "{}")
        return {c: Pin(v["componentDef"], v["serviceVersion"], (v["resolved"], v["resolvedVersion"]))
                for c, v in raw.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_pins(choices: Mapping[str, tuple[str, str, Choice]]) -> str:
    """The annotation's text for component -> (componentDef, serviceVersion, choice)."""
    return json.dumps({c: {"componentDef": pattern, "serviceVersion": wanted, "resolved": choice.name,
                           "resolvedVersion": choice.service_version}
                       for c, (pattern, wanted, choice) in sorted(choices.items())}, separators=(",", ":"))
