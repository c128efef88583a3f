"""The shipped Mosquitto configuration, started for real with its paths and ports moved into a test directory."""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from patroli.localservers import answers_mqtt, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "mosquitto"
# Debian's multiarch path (the image's is /usr/lib/mosquitto_dynamic_security.so).
DYNSEC_PLUGIN = str(next(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so")))


@dataclass
class ShippedBroker:
    plain_port: int  # the loopback-only listener
    tls_port: int
    workdir: Path
    proc: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def reload(self) -> None:
        """What `patroli units disable/rotate` asks for: SIGHUP re-reads the password file and the ACL."""
        self.proc.send_signal(1)


def shipped_config(workdir: Path, plain_port: int, tls_port: int, extra: str = "") -> str:
    text = (SHIPPED / "mosquitto.conf").read_text()
    text = text.replace("/mosquitto/config/", f"{workdir}/").replace("/mosquitto/data/", f"{workdir}/data/")
    text = text.replace("listener 1883 127.0.0.1", f"listener {plain_port} 127.0.0.1")
    text = text.replace("listener 8883", f"listener {tls_port} 127.0.0.1")
    text = text.replace("/mosquitto/dynsec/", f"{workdir}/dynsec/")
    text = text.replace(
        "/usr/lib/mosquitto_dynamic_security.so", DYNSEC_PLUGIN
    )  # Debian's path, not the image's
    return text + f"\nuser {pwd.getpwuid(os.getuid()).pw_name}\n{extra}"


def start_shipped_broker(workdir: Path, extra: str = "") -> ShippedBroker:
    """`workdir` must hold passwd, acl and certs/ (ca.crt, broker.crt, broker.key), as compose mounts them."""
    (workdir / "data").mkdir(exist_ok=True)
    plain, tls = free_port(), free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(shipped_config(workdir, plain, tls, extra))
    log_path = workdir / "mosquitto.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=log_file, stderr=log_file)
    try:
        wait_for_port(plain, proc=proc, ready=answers_mqtt)
        wait_for_port(tls, proc=proc)
    except Exception:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"shipped mosquitto did not start: {log_path.read_text()[-2000:]}") from None
    return ShippedBroker(plain, tls, workdir, proc, log_path)


def patroli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `patroli` command, as an operator runs it."""
    import sys

    return subprocess.run(
        [sys.executable, "-m", "patroli_cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def provision(workdir: Path) -> dict[str, str]:
    """Certificates, service accounts and the shipped ACL in `workdir`; returns the service passwords."""
    import shutil

    certs = patroli("services", "certs", "--dir", str(workdir / "certs"), "--host", "127.0.0.1")
    assert certs.returncode == 0, certs.stderr
    creds = patroli(
        "services",
        "credentials",
        "--password-file",
        str(workdir / "passwd"),
        "--env-file",
        str(workdir / ".env"),
    )
    assert creds.returncode == 0, creds.stderr
    shutil.copy(SHIPPED / "acl", workdir / "acl")
    return dict(line.split("=", 1) for line in (workdir / ".env").read_text().splitlines())
