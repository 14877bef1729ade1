"""Credentials as kubectl has them, without a cluster: a ``$KUBECONFIG`` list merged as kubectl merges it (the first
file that sets a name wins, current-context from the first file that has one, missing files skipped, relative
paths from each entry's own file), honoured by every CLI command; a bad list or context named in one line; kopf's
login built from the control-plane client's configuration (a client certificate, a token, an exec plugin's
token refreshed)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
import yaml

from kbmc.cli import operator as cli_operator
from kbmc.cli.common import default_kubeconfig
from kbmc.errors import UsageError
from kbmc.kube.client import context_namespace, new_client
from kbmc.operator import handlers
from kbmc.operator.runtime import Runtime
from kbmc.settings import Settings


def _write(path: Path, current: str | None, clusters: dict[str, dict[str, Any]], users: dict[str, dict[str, Any]],
           contexts: dict[str, dict[str, str]]) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()]}
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``first`` (no current-context) and ``second`` and ``third`` sharing names; ``second`` names a CA file
    relative to its own directory."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ca.crt").write_text("not read before a connection\n")
    first = _write(tmp_path / "first", None, {"shared": {"server": "https://first:1"}},
                   {"u": {"token": "from-first"}}, {"a": {"cluster": "shared", "user": "u", "namespace": "ns-a"}})
    second = _write(tmp_path / "sub" / "second", "b",
                    {"shared": {"server": "https://second:1"}, "b": {"server": "https://b:1",
                                                                     "certificate-authority": "ca.crt"}},
                    {"u": {"token": "from-second"}}, {"b": {"cluster": "b", "user": "u"}, "a": {"cluster": "b"}})
    third = _write(tmp_path / "third", "a", {}, {}, {})
    return first, second, third


def test_a_kubeconfig_list_is_merged_as_kubectl_merges_it(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    first, second, third = files
    listed = os.pathsep.join(map(str, (first, tmp_path / "missing", second, third)))
    current = new_client(listed, agent="test")  # current-context b: from the first file that has one
    assert current.configuration.host == "https://b:1"
    assert current.configuration.api_key["BearerToken"] == "Bearer from-first", "user u: the first file's"
    assert current.configuration.ssl_ca_cert == str(tmp_path / "sub" / "ca.crt"), "relative to its own file"
    a = new_client(listed, "a", agent="test")  # context a and cluster shared: the first file's
    assert a.configuration.host == "https://first:1"
    assert context_namespace(listed, "a") == "ns-a" and context_namespace(listed) == "default"


def test_default_kubeconfig_is_the_flag_else_the_whole_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/x{os.pathsep}{tmp_path}/y")
    assert default_kubeconfig(None) == f"{tmp_path}/x{os.pathsep}{tmp_path}/y"
    assert default_kubeconfig(tmp_path / "flag") == str(tmp_path / "flag"), "--kubeconfig: that file only"
    monkeypatch.delenv("KUBECONFIG")
    assert default_kubeconfig(None) == str(Path.home() / ".kube/config")


def test_every_cli_command_reads_the_merged_list(files: tuple[Path, Path, Path]) -> None:
    first, second, _ = files
    unreachable = _write(first.parent / "down", None, {"shared": {"server": "https://127.0.0.1:9"}}, {}, {})
    env = {**os.environ, "KUBECONFIG": os.pathsep.join(map(str, (unreachable, first, second)))}
    result = subprocess.run([sys.executable, "-m", "kbmc", "cluster", "list", "--context", "a"], capture_output=True,
                            text=True, timeout=60, check=False, env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: GET /apis/apps.kubeblocks.io/v1alpha1/namespaces/ns-a/clusters: "
                                     "connection refused at https://127.0.0.1:9"), \
        "context a (and its namespace) from the list's second file, cluster shared from its first"


def test_operator_run_reads_the_merged_list(files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []
    monkeypatch.setattr(handlers, "run", lambda settings: seen.append(settings) or 0)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, files)))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cli_operator.run(context="a")
    assert seen and seen[0].kubeconfig is not None
    assert new_client(seen[0].kubeconfig, seen[0].context, agent="test").configuration.host == "https://first:1"


@pytest.mark.parametrize(("which", "context", "message"), [
    ("missing", None, "kubeconfig {missing}: no such file"),
    ("both missing", None, "kubeconfig list {missing}{sep}{missing}2: none of its files exists"),
    ("first", None, "kubeconfig {first}: no current-context: pass --context (it has: a)"),
    ("first", "zz", "kubeconfig {first}: no context 'zz' (it has: a)"),
])
def test_a_bad_kubeconfig_is_named(files: tuple[Path, Path, Path], tmp_path: Path, which: str,
                                   context: str | None, message: str) -> None:
    paths = {"missing": str(tmp_path / "missing"), "first": str(files[0]),
             "both missing": f"{tmp_path / 'missing'}{os.pathsep}{tmp_path / 'missing'}2"}
    with pytest.raises(UsageError) as raised:
        new_client(paths[which], context, agent="test")
    assert str(raised.value) == message.format(missing=tmp_path / "missing", first=files[0], sep=os.pathsep)


def _login(kubeconfig: Path) -> kopf.ConnectionInfo:
    """The operator's kopf login handler over a control-plane client made from ``kubeconfig``."""
    rt = cast(Runtime, SimpleNamespace(control=new_client(kubeconfig, agent="test")))
    registry = handlers.build_registry(rt)
    [login] = [h for h in registry._activities.get_all_handlers() if h.activity.value == "authentication"]
    info = login.fn()
    assert isinstance(info, kopf.ConnectionInfo)
    return info


def test_kopf_logs_in_with_a_client_certificate(tmp_path: Path) -> None:
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_text("PEM\n")
    cluster = {"server": "https://c:1", "certificate-authority": "ca.crt"}
    user = {"client-certificate": "client.crt", "client-key": "client.key"}
    kubeconfig = _write(tmp_path / "kubeconfig", "c", {"c": cluster}, {"u": user}, {"c": {"cluster": "c", "user": "u"}})
    info = _login(kubeconfig)
    assert (info.server, info.ca_path, info.insecure) == ("https://c:1", str(tmp_path / "ca.crt"), False)
    assert (info.certificate_path, info.private_key_path) == (str(tmp_path / "client.crt"),
                                                              str(tmp_path / "client.key"))
    headers = info.as_http_headers()
    assert "Authorization" not in headers and headers["User-Agent"].startswith("kbmc/")


def test_kopf_logs_in_with_a_fresh_exec_plugin_token(tmp_path: Path) -> None:
    """The plugin's first token has expired when kopf logs in: login reads the one the plugin gives next."""
    calls = tmp_path / "calls"
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, pathlib\n"
        f"calls = pathlib.Path({str(calls)!r})\n"
        "n = len(calls.read_text()) + 1 if calls.exists() else 1\n"
        "calls.write_text('x' * n)\n"
        f"status = {{'token': f'exec-{{n}}', **({{'expirationTimestamp': {past!r}}} if n == 1 else {{}})}}\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential', "
        "'status': status}))\n")
    cluster = {"server": "https://c:1", "insecure-skip-tls-verify": True}
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin)]}}
    kubeconfig = _write(tmp_path / "kubeconfig", "c", {"c": cluster}, {"u": user}, {"c": {"cluster": "c", "user": "u"}})
    info = _login(kubeconfig)
    assert (info.scheme, info.token, info.insecure) == ("Bearer", "exec-2", True)
    assert info.as_http_headers()["Authorization"] == "Bearer exec-2"
    assert info.certificate_path is None
