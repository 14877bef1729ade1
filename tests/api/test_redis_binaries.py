"""Debian's Redis as the bed runs it (``toolchain.ensure_redis``), without Kubernetes.

Matrix: the cached wrappers run (redis-server, redis-sentinel and redis-cli report 7.0.15: the multicall program
takes its mode from the link's name, its libraries from the cache) | a redis-server on a loopback address
(127.99.0.1, a free port) answers PING, SET and GET through redis-cli | a cache whose wrappers name another
directory is refused, one without a manifest too.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbmc.dev import toolchain

HOST = "127.99.0.1"


BIN = toolchain.cached_redis()
needs_redis = pytest.mark.skipif(BIN is None, reason="no cached Redis (kbmc dev toolchain fetches it)")


def _run(*argv: str) -> str:
    assert BIN is not None
    done = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@needs_redis
@pytest.mark.parametrize("name", ["redis-server", "redis-sentinel"])
def test_server_and_sentinel_report_their_version(name: str) -> None:
    assert _run(name, "--version").startswith(f"Redis server v={toolchain.REDIS_VERSION} ")


@needs_redis
def test_cli_reports_its_version() -> None:
    assert _run("redis-cli", "--version") == f"redis-cli {toolchain.REDIS_VERSION}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A redis-server on 127.99.0.1 and a free port; yields the port."""
    assert BIN is not None
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = str(probe.getsockname()[1])
    log = (tmp_path / "redis.log").open("w")
    proc = subprocess.Popen([str(BIN / "redis-server"), "--bind", HOST, "--port", port, "--dir", str(tmp_path),
                             "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while _cli(port, "ping", check=False) != "PONG":
            assert proc.poll() is None, (tmp_path / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _cli(port: str, *command: str, check: bool = True) -> str:
    assert BIN is not None
    done = subprocess.run([str(BIN / "redis-cli"), "-h", HOST, "-p", port, *command], capture_output=True,
                          text=True, timeout=10, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@needs_redis
def test_a_server_answers_through_the_cli(server: str) -> None:
    assert _cli(server, "ping") == "PONG"
    assert _cli(server, "set", "hello", "world") == "OK"
    assert _cli(server, "get", "hello") == "world"
    assert f"redis_version:{toolchain.REDIS_VERSION}" in _cli(server, "info", "server")


def test_a_moved_or_incomplete_cache_is_refused(tmp_path: Path) -> None:
    assert toolchain.verify_redis(tmp_path) == f"no manifest at {tmp_path / 'manifest.json'}"
    files = toolchain._redis_files()
    for relative in files.values():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(toolchain._redis_wrapper(tmp_path / "elsewhere", relative.name))
    sums = {key: toolchain._sha256(tmp_path / relative) for key, relative in files.items()}
    (tmp_path / "manifest.json").write_text(json.dumps({"sha256": sums}))
    assert toolchain.verify_redis(tmp_path) == f"{tmp_path / 'bin/redis-server'} runs Redis from another directory"
    (tmp_path / "lib/liblzf.so.1").unlink()
    assert toolchain.verify_redis(tmp_path) == f"{tmp_path / 'lib/liblzf.so.1'} is missing"
