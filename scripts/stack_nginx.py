"""The API gateway of `make stack`: nginx, rendered from the template docker-compose uses.

deploy/gateway/incident.conf.template is an http-level snippet with ``${NAME}`` placeholders
(the nginx image fills them with envsubst); here the same substitution happens in Python and
the snippet is wrapped in a minimal nginx.conf that keeps every file nginx writes in one
directory of its own, so the machine's /etc/nginx and /var are never touched.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GATEWAY_TEMPLATE = ROOT / "deploy" / "gateway" / "incident.conf.template"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
TEMPLATE_NAMES = frozenset(
    {"LISTEN_PORT", "TICKETS_SERVERS", "NOTIFIER_SERVERS", "WS_GATEWAY_SERVERS"}
)
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

Say = Callable[[str, str], None]


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Substitute ``${NAME}`` placeholders, as envsubst does in the nginx image; every
    placeholder must have a value (a typo must not reach nginx as a literal)."""
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise KeyError(f"no value for {', '.join(missing)} in the gateway template")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def upstream_servers(addresses: Sequence[str], parameters: str = "") -> str:
    suffix = f" {parameters}" if parameters else ""
    return " ".join(f"server {address}{suffix};" for address in addresses)


# A WebSocket request "completes" only when the socket closes, and nginx forgets a server's
# failures only when a request completes: with the default max_fails=1, a gateway that once
# refused a connection (restarting) got one new WebSocket per fail_timeout for as long as its
# earlier ones stayed open. Without failure accounting a refused connection still moves on
# to the next gateway (proxy_next_upstream error).
GATEWAY_SERVER_PARAMETERS = "max_fails=0"


def gateway_values(
    port: int, tickets: Sequence[str], notifier: Sequence[str], gateways: Sequence[str]
) -> dict[str, str]:
    return {
        "LISTEN_PORT": f"127.0.0.1:{port}",
        "TICKETS_SERVERS": upstream_servers(tickets),
        "NOTIFIER_SERVERS": upstream_servers(notifier),
        "WS_GATEWAY_SERVERS": upstream_servers(gateways, GATEWAY_SERVER_PARAMETERS),
    }


def nginx_main_config(state: Path, include: Path, worker_user: str | None) -> str:
    """A whole nginx.conf around the rendered snippet: foreground, logs to our stream, every
    file it writes under ``state`` (the system's /etc/nginx and /var are left alone)."""
    user = f"user {worker_user};\n" if worker_user else ""
    temp = "\n".join(f"    {kind}_temp_path {state / (kind + '_temp')};" for kind in TEMP_KINDS)
    return (
        f"{user}worker_processes 1;\n"
        "daemon off;\n"
        f"pid {state / 'nginx.pid'};\n"
        "error_log stderr warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"{temp}\n"
        f"    include {include};\n"
        "}\n"
    )


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (str(p) for p in (Path("/usr/sbin/nginx"), Path("/sbin/nginx")) if p.exists()), None
    )


def install_nginx(say: Say) -> str | None:
    """nginx from Debian's packages when it is missing; None (and why) when that cannot be."""
    found = find_nginx()
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        why = "not root" if os.geteuid() != 0 else "no apt-get on this machine"
        say("stack", f"nginx is not installed and cannot be installed here ({why}); skipping it")
        return None
    say("stack", "nginx is missing: apt-get install nginx")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "nginx"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            say("stack", f"{' '.join(command)} failed: {result.stderr.strip()[-400:]}")
            return None
    return find_nginx()


@dataclass(frozen=True)
class NginxPlan:
    argv: list[str]
    health_url: str
    home: Path
    """nginx's own directory (configuration, pid, temp files): remove it after the run."""


def prepare_nginx(
    nginx: str,
    port: int,
    tickets: Sequence[str],
    notifier: Sequence[str],
    gateways: Sequence[str],
) -> NginxPlan:
    """nginx in the foreground on 127.0.0.1:``port``, in front of the given upstreams."""
    # nginx's own files live in a directory of their own that its workers may enter even when
    # the state directory sits under a private (0700) parent.
    home = Path(tempfile.mkdtemp(prefix="incident-stack-nginx-"))
    home.chmod(0o755)
    worker_user = None
    if os.geteuid() == 0:
        worker_user = next((u for u in ("www-data", "nobody") if _user_exists(u)), None)
    for kind in TEMP_KINDS:
        temp = home / f"{kind}_temp"
        temp.mkdir()
        if worker_user:
            entry = pwd.getpwnam(worker_user)
            os.chown(temp, entry.pw_uid, entry.pw_gid)
    snippet = home / "incident.conf"
    snippet.write_text(
        render_template(
            GATEWAY_TEMPLATE.read_text(),
            gateway_values(port, tickets, notifier, gateways),
        )
    )
    main = home / "nginx.conf"
    main.write_text(nginx_main_config(home, snippet, worker_user))
    return NginxPlan(
        [nginx, "-p", str(home), "-c", str(main), "-e", "stderr"],
        f"http://127.0.0.1:{port}/gateway/healthz",
        home,
    )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
