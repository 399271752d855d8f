"""Start the processes of docs/operations.md's deployment on one machine: PgBouncer in
transaction mode, nginx with a generated config, and any child process in a session of its own.

The cluster test (tests/cluster/test_cluster.py) and the scale-out benchmark (bench/cluster.py)
both start their processes with these helpers, so the benchmark measures the setup the test
checks. nginx and PgBouncer come from Debian's packages (``INSTALL``); ``NGINX`` or
``PGBOUNCER`` is None when one is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from config.launcher import BASE_DIR, port_is_free

INSTALL = "apt-get install -y nginx-light pgbouncer"
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
NGINX = shutil.which("nginx", path=SBIN)
PGBOUNCER = shutil.which("pgbouncer", path=SBIN)


@dataclass
class Proc:
    """One child process in a session (process group) of its own, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(30)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


NGINX_CONF = """
worker_processes 1;
daemon off;
%(user)s
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 1024; }
http {
    log_format cluster escape=json
        '{"uri":"$request_uri","status":"$status","upstream":"$upstream_addr",'
        '"upstream_status":"$upstream_status"}';
    access_log %(dir)s/access.log cluster;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
    upstream club_web {
%(servers)s
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            proxy_pass http://club_web;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # Only idempotent requests are passed on to the other process (nginx's default).
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }
    }
}
"""

PGBOUNCER_INI = """
[databases]
%(name)s = %(target)s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %(port)d
unix_socket_dir =
auth_type = trust
auth_file = %(dir)s/userlist.txt
admin_users = %(user)s
pool_mode = transaction
; Each transaction goes to the next idle server connection, not the one used last: a statement
; that relied on session state would find another session even with few clients.
server_round_robin = 1
default_pool_size = 20
max_client_conn = 400
logfile = %(dir)s/pgbouncer.log
pidfile = %(dir)s/pgbouncer.pid
%(run_as)s
"""


def listening_ports(count: int) -> list[int]:
    """Free ports below the kernel's ephemeral range: a port picked from that range can be taken
    by any outgoing connection (ours to PostgreSQL, say) before the server binds it."""
    candidates = random.sample(range(20000, 32000), 200)
    ports = [port for port in candidates if port_is_free(port)][:count]
    assert len(ports) == count
    return ports


def start_pgbouncer(base: Path, db: dict) -> tuple[Proc, int]:
    """PgBouncer in transaction mode in front of the test database (socket or TCP)."""
    directory = base / "pgbouncer"
    directory.mkdir()
    directory.chmod(0o777)  # PgBouncer will not run as root: it drops to another user
    host = db.get("HOST") or "/var/run/postgresql"
    target = f"host={host} dbname={db['NAME']} user={db.get('USER') or 'postgres'}"
    if db.get("PORT"):
        target += f" port={db['PORT']}"
    if db.get("PASSWORD"):
        target += f" password={db['PASSWORD']}"
    run_as = ""
    if os.geteuid() == 0:
        # The socket's owner can always reach it; over TCP any unprivileged user will do.
        owner = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else None
        if owner in (None, "root"):
            owner = "postgres" if _user_exists("postgres") else "nobody"
        run_as = f"user = {owner}"
    user = db.get("USER") or "postgres"
    (directory / "userlist.txt").write_text(f'"{user}" ""\n')
    port = listening_ports(1)[0]
    ini = directory / "pgbouncer.ini"
    ini.write_text(PGBOUNCER_INI % {"name": db["NAME"], "target": target, "port": port,
                                    "dir": directory, "user": user, "run_as": run_as})  # fmt: skip
    for path in directory.iterdir():
        path.chmod(0o644)
    proc = Proc("pgbouncer", [PGBOUNCER, str(ini)], dict(os.environ), base / "pgbouncer.out")
    proc.start()
    return proc, port


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def write_nginx_conf(directory: Path, port: int, web_ports: list[int]) -> Path:
    """nginx's config in ``directory``: one upstream of the given web processes on ``port``."""
    servers = "\n".join(
        f"        server 127.0.0.1:{web} max_fails=1 fail_timeout=10s;" for web in web_ports
    )
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF % {"dir": directory, "port": port, "servers": servers,
                                  "user": "user root;" if os.geteuid() == 0 else ""})  # fmt: skip
    return conf


def start_nginx(base: Path, port: int, web_ports: list[int], name: str = "nginx") -> Proc:
    """nginx in the foreground with its files in ``base / name`` (access log included)."""
    directory = base / name
    directory.mkdir()
    conf = write_nginx_conf(directory, port, web_ports)
    argv = [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")]
    proc = Proc(name, argv, dict(os.environ), base / f"{name}.out")
    proc.start()
    return proc


def reload_nginx(proc: Proc, port: int, web_ports: list[int]) -> None:
    """Regenerate the upstream of a running nginx (started by ``start_nginx``) and reload it;
    returns once requests are served by the new upstream only (nginx's old workers finish the
    connections they hold and exit)."""
    assert proc.process is not None
    directory = Path(proc.argv[proc.argv.index("-p") + 1])
    write_nginx_conf(directory, port, web_ports)
    proc.process.send_signal(signal.SIGHUP)
    wanted = {f"127.0.0.1:{web}" for web in web_ports}
    log = directory / "access.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        before = log.stat().st_size if log.exists() else 0
        for _ in range(6):
            with contextlib.suppress(requests.RequestException):
                requests.get(f"http://127.0.0.1:{port}/robots.txt", timeout=2)
        with open(log, "rb") as handle:
            handle.seek(before)
            lines = [line for line in handle.read().decode().splitlines() if line.strip()]
        served = {json.loads(line)["upstream"] for line in lines}
        if lines and served <= wanted:
            return
        time.sleep(0.2)
    raise RuntimeError(f"nginx did not reload to {sorted(wanted)}:\n{proc.log()[-3000:]}")


def wait_ready(proc: Proc, ready: Callable[[], bool], timeout: float = 90) -> None:
    """Wait until ``ready()`` is true; fail with the process's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():
                return
        if not proc.alive():
            break
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not start:\n{proc.log()[-3000:]}")


def http_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200
