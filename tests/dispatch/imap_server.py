"""A real Dovecot IMAP server on a free loopback port, for the mailbox-polling tests (Debian's dovecot-imapd).

Plain IMAP with one static password, maildirs under a temporary directory, mail processes as `nobody`
(Dovecot refuses to run them as root). Tests skip, visibly, where dovecot is not installed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patroli.localservers import free_port, terminate, wait_for_port

DOVECOT = Path("/usr/sbin/dovecot")
NOBODY = 65534

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 100
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@dataclass(frozen=True)
class Imap:
    port: int
    password: str

    def url(self, user: str) -> str:
        return f"imap://{user}:{self.password}@127.0.0.1:{self.port}/INBOX"


@contextlib.contextmanager
def running_dovecot(password: str = "imap-secret") -> Iterator[Imap]:
    if not DOVECOT.exists():
        pytest.skip("dovecot not installed (Debian dovecot-imapd; scripts/install.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)  # the mail processes run as nobody
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        (root / sub).chmod(0o777)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(CONFIG.format(root=root, password=password, uid=NOBODY, port=port))
    proc = subprocess.Popen(
        [str(DOVECOT), "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, 20, proc)
        yield Imap(port, password)
    finally:
        terminate(proc)
        shutil.rmtree(root, ignore_errors=True)
