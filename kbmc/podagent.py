"""``kbmc pod-agent``: kbmc's agent in a database pod (``kbmc.core.sidecar`` builds its containers).

It watches its own pod only, through its own data plane's API server, with the pod's ServiceAccount:

- every ``period`` seconds it runs the roleProbe and, when the role it prints changes, labels its pod
  (``kubeblocks.io/role``, ``workloads.kubeblocks.io/access-mode``): one write per change, none per probe. A
  probe that fails three times in a row, or prints a role the definition does not have, is said in the pod's
  ``kbmc.io/role-probe-error`` annotation (cleared once a probe succeeds);
- it runs the action the operator asks for in ``kbmc.io/action-request`` (only the definition's own actions, by
  name, with the env the request gives) and answers in ``kbmc.io/action-result``: exit code, output tail,
  whether it timed out. Requests are idempotent by id: one answered is not run again.

Commands run in the ``kbmc-actions`` container (the database's image) through the shared directory."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kbmc.core.clock import stamp
from kbmc.core.members import ACCESS_MODE, PROBE_ERROR, REQUEST, RESULT, ROLE
from kbmc.core.sidecar import ACTIONS_DIR, CONFIG_ENV, AgentConfig, Command
from kbmc.errors import ApiError, NoAnswerError
from kbmc.kube import rest
from kbmc.kube.client import Api, new_client, user_agent
from kbmc.kube.informer import Informer, Obj

log = logging.getLogger("kbmc.podagent")
PROBE_FAILURES = 3
"""Failed probes in a row before the pod says so (one slow answer is not an error)."""
OUTPUT_TAIL = 1000


class Runner:
    """Runs commands in the ``kbmc-actions`` container: ``<id>.sh`` in, ``<id>.rc`` / ``.out`` / ``.err`` out."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def run(self, command: Command, env: dict[str, str], stop: threading.Event) -> tuple[int | None, str, str]:
        """(exit code or None when it timed out, stdout, stderr)."""
        run_id = uuid.uuid4().hex[:12]
        lines = [f"# timeout={command.timeout}", *(f"export {k}={shlex.quote(v)}" for k, v in env.items()
                                                   if k.isidentifier()), f"exec {shlex.join(command.command)}"]
        staged = self.directory / f"{run_id}.tmp"
        staged.write_text("\n".join(lines) + "\n")
        staged.rename(self.directory / f"{run_id}.sh")
        deadline = time.monotonic() + command.timeout + 5  # the runner's own timeout ends it first
        done = self.directory / f"{run_id}.rc"
        while not done.exists():
            if time.monotonic() > deadline or stop.is_set():
                (self.directory / f"{run_id}.sh").unlink(missing_ok=True)  # not started yet: it never will be
                return None, self._read(run_id, "out"), self._read(run_id, "err")
            time.sleep(0.05)
        code = int(done.read_text().strip() or "1")
        out, err = self._read(run_id, "out"), self._read(run_id, "err")
        for suffix in ("rc", "out", "err"):
            (self.directory / f"{run_id}.{suffix}").unlink(missing_ok=True)
        return (None if code == 124 else code), out, err  # 124: timeout(1) ended it

    def _read(self, run_id: str, suffix: str) -> str:
        path = self.directory / f"{run_id}.{suffix}"
        return path.read_text(errors="replace")[-OUTPUT_TAIL:] if path.exists() else ""


class PodAgent:
    def __init__(self, api: Api, namespace: str, name: str, config: AgentConfig, runner: Runner) -> None:
        self.api, self.namespace, self.name, self.config, self.runner = api, namespace, name, config, runner
        self.where = rest.path("Pod", namespace, name)
        self.pod: Obj = {}
        self.changed = threading.Condition()
        self.answered: str = ""
        self.busy = threading.Event()
        """An action is running (a probe waiting behind it in the runner is not failing)."""
        self.unsent: dict[str, Any] | None = None
        """An answer the API server did not take yet: sent again, never the action run again."""
        self.informer = Informer(f"pod/{name}", rest.lister(api, "Pod", namespace,
                                                            field_selector=f"metadata.name={name}"), self._seen)

    def run(self, stop: threading.Event) -> None:
        self.informer.start()
        loops = [self._actions, *([self._probes] if self.config.probe is not None else [])]
        threads = [threading.Thread(target=_forever, args=(loop, stop), name=loop.__name__, daemon=True)
                   for loop in loops]
        for thread in threads:
            thread.start()
        stop.wait()
        self.informer.stop()
        with self.changed:
            self.changed.notify_all()

    def _seen(self, event: str, pod: Obj) -> None:
        if event != "DELETED":
            with self.changed:
                self.pod = pod
                self.changed.notify_all()

    def _annotation(self, key: str) -> str:
        return str(((self.pod.get("metadata") or {}).get("annotations") or {}).get(key) or "")

    def _patch(self, metadata: dict[str, Any]) -> bool:
        try:
            rest.call(self.api, "PATCH", self.where, body={"metadata": metadata}, content_type=rest.MERGE_PATCH)
        except (ApiError, NoAnswerError) as exc:
            log.warning("pod=%s/%s not patched: %s", self.namespace, self.name, exc)
            return False
        return True

    # -- roles -----------------------------------------------------------------------------------------

    def _probes(self, stop: threading.Event) -> None:
        probe = self.config.probe
        assert probe is not None
        failures = 0
        if stop.wait(self.config.initial_delay):
            return
        while not stop.is_set():
            started = time.monotonic()
            busy = self.busy.is_set()
            code, out, err = self.runner.run(probe, {}, stop)
            role = out.strip()
            error = ""
            if code is None and (busy or self.busy.is_set()):
                pass  # queued behind an action in the runner: not the probe's failure
            elif code != 0:
                failures += 1
                why = "timed out" if code is None else f"exited {code}"
                error = f"roleProbe {why}: {(err or out).strip()[-300:]}" if failures >= PROBE_FAILURES else ""
            elif role not in self.config.access_modes:
                failures = 0
                error = (f"roleProbe printed {role!r}, which is not a role of the definition (it has: "
                         f"{', '.join(self.config.access_modes) or 'none'})")
            else:
                failures = 0
                self._label(role)
            if self.pod and error != self._annotation(PROBE_ERROR):
                self._patch({"annotations": {PROBE_ERROR: error or None}})
            stop.wait(max(0.0, self.config.period - (time.monotonic() - started)))

    def _label(self, role: str) -> None:
        labels = (self.pod.get("metadata") or {}).get("labels") or {}
        wanted = {ROLE: role, ACCESS_MODE: self.config.access_modes[role]}
        if self.pod and all(labels.get(k) == v for k, v in wanted.items()):
            return
        if self._patch({"labels": wanted}):
            log.info("pod=%s/%s role=%s", self.namespace, self.name, role)

    # -- actions ---------------------------------------------------------------------------------------

    def _actions(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self.changed:
                request = self._pending()
                while request is None and not stop.is_set():
                    self.changed.wait(1.0)
                    request = self._pending()
            if request is not None:
                self._answer(request, stop)

    def _pending(self) -> dict[str, Any] | None:
        try:
            request = json.loads(self._annotation(REQUEST) or "null")
            answered = json.loads(self._annotation(RESULT) or "null")
        except ValueError:
            return None
        if not isinstance(request, dict) or not request.get("id") or request["id"] == self.answered:
            return None
        if isinstance(answered, dict) and answered.get("id") == request["id"]:
            return None
        return request

    def _answer(self, request: dict[str, Any], stop: threading.Event) -> None:
        name = str(request.get("action"))
        result = self.unsent if self.unsent and self.unsent["id"] == request["id"] else None
        if result is None:
            command = self.config.actions.get(name)
            env = {str(k): str(v) for k, v in (request.get("env") or {}).items()}
            code: int | None
            if command is None:
                code, out, err = 127, "", f"the definition has no {name} action kbmc runs"
            else:
                log.info("pod=%s/%s action=%s id=%s", self.namespace, self.name, name, request["id"])
                self.busy.set()
                try:
                    code, out, err = self.runner.run(command, env, stop)
                finally:
                    self.busy.clear()
            result = {"id": request["id"], "action": name, "exitCode": code, "timedOut": code is None,
                      "output": (out + err).strip()[-OUTPUT_TAIL:], "finishedAt": stamp()}
        self.unsent = result
        if self._patch({"annotations": {RESULT: json.dumps(result, sort_keys=True)}}):
            self.answered, self.unsent = str(request["id"]), None
            log.info("pod=%s/%s action=%s exit=%s", self.namespace, self.name, name, result["exitCode"])
        else:
            stop.wait(1.0)  # the answer is sent again, the action not run again


def _forever(loop: Any, stop: threading.Event) -> None:
    """Run ``loop`` until ``stop``; an error is logged and the loop goes on (a dead probe would freeze the role)."""
    while not stop.is_set():
        try:
            loop(stop)
        except Exception:
            log.exception("%s failed; going on", getattr(loop, "__name__", "loop"))
            stop.wait(1.0)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    namespace, name = os.environ.get("POD_NAMESPACE", ""), os.environ.get("POD_NAME", "")
    if not namespace or not name or CONFIG_ENV not in os.environ:
        log.error("POD_NAMESPACE, POD_NAME and %s must be set (kbmc adds this container with them)", CONFIG_ENV)
        return 2
    api = new_client("", None, agent=user_agent(f"pod-agent {namespace}/{name}"))
    agent = PodAgent(api, namespace, name, AgentConfig.parse(os.environ[CONFIG_ENV]), Runner(Path(ACTIONS_DIR)))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    agent.run(stop)
    return 0
