"""Which definition, service version and images a component runs, by KubeBlocks 0.9's rules, on the
definitions and versions of kubeblocks-addons (tests/data/kubeblocks-0.9)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.api.componentdefinition import ComponentDefinition
from kbmc.api.componentversion import ComponentVersion
from kbmc.core import versions
from kbmc.core.versions import ChoiceError, Pin, choose, compatible, matches, read_pins, version_problems, write_pins

CORPUS = Path(__file__).resolve().parents[1] / "data/kubeblocks-0.9"


def _without_nulls(value: Any) -> Any:  # the API server prunes them (helm leaves `changes:` empty)
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _load() -> tuple[dict[str, ComponentDefinition], dict[str, ComponentVersion]]:
    definitions, releases = {}, {}
    for path in sorted(CORPUS.glob("*/*.yaml")):
        body = _without_nulls(yaml.safe_load(path.read_text()))
        if body["kind"] == "ComponentDefinition":
            definitions[body["metadata"]["name"]] = ComponentDefinition.model_validate(body)
        elif body["kind"] == "ComponentVersion":
            releases[body["metadata"]["name"]] = ComponentVersion.model_validate(body)
    return definitions, releases


DEFINITIONS, VERSIONS = _load()


def test_every_component_version_of_the_corpus_is_valid_for_its_definitions() -> None:
    assert len(VERSIONS) == 18 and len(DEFINITIONS) == 38
    assert {name: version_problems(cmpv, DEFINITIONS) for name, cmpv in VERSIONS.items()} == {
        name: [] for name in VERSIONS}


def test_matching_is_prefix_then_regular_expression() -> None:
    assert matches("mysql-8.0", "mysql") and matches("mysql-8.0", "mysql-8.0")
    assert matches("mysql-8.0", "^mysql-\\d") and not matches("mysql-8.0", "^pg")
    assert not matches("etcd", "etcd-0.9.0")
    assert matches("redis-7", "redis-\\d+") and not matches("redis-7", "redis-[")  # not a regex: no match


def test_service_versions_compare_as_kubeblocks_does() -> None:
    assert compatible(None, "3.5.6") and compatible("3.5.6", "3.5.6") and compatible("8.0.30", "8.0.30-r1")
    assert not compatible("8.0.30-r1", "8.0.30") and not compatible("3.5", "3.5.6")


def test_an_exact_name_wins_and_images_come_from_the_release() -> None:
    chosen = choose("etcd", None, DEFINITIONS, VERSIONS)
    assert (chosen.name, chosen.service_version) == ("etcd", "3.6.1"), "no serviceVersion: the newest"
    assert chosen.images == {"inject-bash": "docker.io/apecloud/bash-busybox:1.37.0-musl-curl",
                             "etcd": "quay.io/coreos/etcd:v3.6.1"}
    older = choose("etcd", "3.5.6", DEFINITIONS, VERSIONS)
    assert older.images["etcd"] == "quay.io/coreos/etcd:v3.5.6"
    applied = versions.with_images(DEFINITIONS["etcd"], older.images)
    assert [c.image for c in applied.spec.runtime.containers] == ["quay.io/coreos/etcd:v3.5.6"]
    assert DEFINITIONS["etcd"].spec.runtime.containers[0].image is None, "the definition itself is not changed"


def test_a_prefix_picks_the_newest_version_then_the_greatest_name() -> None:
    assert choose("mysql-8.0", None, DEFINITIONS, VERSIONS).name == "mysql-8.0", "an exact name wins"
    chosen = choose("postgresql", None, DEFINITIONS, VERSIONS)
    assert (chosen.name, chosen.service_version) == ("postgresql-18", "18.1.0")
    chosen = choose("postgresql", "14.18.0", DEFINITIONS, VERSIONS)
    assert (chosen.name, chosen.images["postgresql"]) == ("postgresql-14", "docker.io/apecloud/spilo:14.18")
    assert choose("mysql", None, DEFINITIONS, VERSIONS).name == "mysql-mgr-8.4", "8.4.x; greatest of those names"


def test_no_definition_or_version_names_the_candidates() -> None:
    with pytest.raises(ChoiceError) as err:
        choose("cassandra", None, DEFINITIONS, VERSIONS)
    assert err.value.reason == "ComponentDefinitionNotFound" and "cassandra" in str(err.value)
    with pytest.raises(ChoiceError) as err:
        choose("etcd", "9.9.9", DEFINITIONS, VERSIONS)
    assert err.value.reason == "ServiceVersionUnsupported"
    assert "serviceVersion 9.9.9" in str(err.value) and "etcd: 3.5.6, 3.5.15, 3.6.1" in str(err.value)


def test_a_container_no_release_or_definition_gives_an_image_is_named() -> None:
    with pytest.raises(ChoiceError) as err:
        choose("etcd", None, {"etcd": DEFINITIONS["etcd"]}, {})
    assert err.value.reason == "ImageNotFound" and "container inject-bash" in str(err.value)
    body = DEFINITIONS["etcd"].dump()
    body["spec"]["serviceVersion"] = "3.6.1"
    with pytest.raises(ChoiceError) as err:
        choose("etcd", None, {"etcd": ComponentDefinition.model_validate(body)}, {})
    assert err.value.reason == "ImageNotFound" and "container inject-bash" in str(err.value)


def test_a_pinned_choice_holds_when_a_newer_release_comes() -> None:
    cmpv = VERSIONS["etcd"].dump()
    newer = copy.deepcopy(cmpv)
    newer["spec"]["releases"].append({"name": "3.7.0", "serviceVersion": "3.7.0",
                                      "images": {"etcd": "quay.io/coreos/etcd:v3.7.0", "inject-bash": "bash:5"}})
    newer["spec"]["compatibilityRules"][0]["releases"].append("3.7.0")
    changed = {"etcd": ComponentVersion.model_validate(newer)}
    assert choose("etcd", None, DEFINITIONS, changed).service_version == "3.7.0", "a new Cluster gets the newest"
    kept = choose("etcd", None, DEFINITIONS, changed, pinned=("etcd", "3.6.1"))
    assert (kept.service_version, kept.images["etcd"]) == ("3.6.1", "quay.io/coreos/etcd:v3.6.1")
    text = write_pins({"etcd": ("etcd", "", kept)})
    assert read_pins({"kbmc.io/definitions": text}) == {"etcd": Pin("etcd", "", ("etcd", "3.6.1"))}
    assert read_pins({"kbmc.io/definitions": "not json"}) == {}
