"""JupyterHub for a class on one host: each learner's server starts the learner's own labkit lab.

    make hub        this hub on 127.0.0.1 (SimpleLocalProcessSpawner, one shared password):
                    for trying it out and for tests (tests/test_hub_live.py)

What a learner's server is (labkit/hub.py has the details):

- `Spawner.cmd` wraps the single-user server: `python -m labkit.hub -- python -m
  jupyterhub.singleuser ARGS`. Before the server starts, the lessons are copied into the
  learner's working folder (their home), and their lab starts there (`labkit up --ports auto
  --auth`, its state in ~/.lab). When the server stops (from the hub, culled, crashed), the
  lab stops (`labkit down`) and its ports are free again. A lab that cannot start leaves the
  server starting all the same, the reason in the hub's log and in ~/.lab/start-problem.txt,
  which the lessons' first cell (`Lab.open()`) shows.
- jupyter-server-proxy serves the lab through the hub, with the lab's secret added by the
  proxy: /user/NAME/prometheus/ (Prometheus' UI), /user/NAME/labkit/voila/render/dashboard.ipynb
  (labkit's dashboard) and .../alertmanager.ipynb (the Alertmanager view); JupyterLab's
  launcher has a tile for each.
- jupyterhub-idle-culler (a hub service) stops servers idle for LABKIT_HUB_CULL_TIMEOUT
  seconds (3600), and with them their labs.

Settings, from the environment (the defaults suit `make hub`):

    LABKIT_HUB_DIR            the hub's own state: database, cookie secret, password (.hub)
    LABKIT_HUB_PORT           where the hub is opened, on 127.0.0.1 (31800)
    LABKIT_HUB_API_PORT       the hub's internal API (31801)
    LABKIT_HUB_PROXY_API_PORT configurable-http-proxy's API (31802)
    LABKIT_HUB_SPAWNER        simple: every server as the hub's own user, any user name, one
                              shared password (a try-out; the default); system: each server
                              as the learner's system user in their home, who signs in with
                              their own password (PAM): a class (the hub runs as root)
    LABKIT_HUB_GROUP          with the system spawner: the group whose members may sign in
                              (labkit; `groupadd labkit`, `useradd -m -G labkit NAME`)
    LABKIT_HUB_HOMES          each learner's working folder (/tmp/labkit-hub/{username}); with
                              the simple spawner only (system: the user's home)
    LABKIT_HUB_PASSWORD       the learners' shared password (else made once, in
                              LABKIT_HUB_DIR/password); simple spawner only
    LABKIT_HUB_ADMINS         admin user names, comma-separated (teacher); with the simple
                              spawner they sign in with LABKIT_HUB_DIR/admin-password
    LABKIT_HUB_ADMIN_TOKEN    an API token with the admin role (service labkit-admin): for
                              scripts and tests; none when unset
    LABKIT_HUB_NODES          nodes in each learner's lab (12)
    LABKIT_HUB_CULL_TIMEOUT   seconds of inactivity before a server is culled (3600)
    LABKIT_HUB_CULL_EVERY     how often the culler looks, seconds (300)

The ports are above the ones `labkit up --ports auto` draws from first and outside the seed's;
learners' servers take JupyterHub's usual random ports. Everything listens on 127.0.0.1 only:
to open the hub to a class, put a TLS proxy in front (JupyterHub's docs) and keep these.
SimpleLocalProcessSpawner runs every server as the hub's own user: fine for one person trying
it. A class sets LABKIT_HUB_SPAWNER=system: LocalProcessSpawner with a system user per learner
(the same `Spawner.cmd`), so each lab's secret and data are its learner's alone
(tests/test_hub_live.py checks that with a uid per learner). labkit and its Python must then
be installed where every user can read them (a venv in /opt, not under /root).
"""

# ruff: noqa: F821  (`c` is JupyterHub's config object, given to this file)

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HUB_DIR = Path(os.environ.get("LABKIT_HUB_DIR") or Path.cwd() / ".hub").resolve()
HUB_DIR.mkdir(parents=True, exist_ok=True)
HUB_DIR.chmod(0o700)


def setting(name: str, default: str) -> str:
    return os.environ.get(f"LABKIT_HUB_{name}") or default


def secret_file(name: str, size: int = 12) -> str:
    """A password kept in HUB_DIR (made once, readable by the hub's user only): `size`
    random bytes, 4/3 as many characters."""
    path = HUB_DIR / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(size) + "\n")
    return path.read_text().strip()


# -- the hub, its proxy, its state: all on 127.0.0.1 -------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{setting('PORT', '31800')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{setting('API_PORT', '31801')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{setting('PROXY_API_PORT', '31802')}"
chp = REPO / "node_modules" / ".bin" / "configurable-http-proxy"  # `make hub-packages`
c.ConfigurableHTTPProxy.command = [str(chp) if chp.exists() else "configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = str(HUB_DIR / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{HUB_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # the hub stopping stops every server, hence every lab

SPAWNERS = ("simple", "system")
spawner = setting("SPAWNER", "simple")
if spawner not in SPAWNERS:
    sys.exit(f"jupyterhub_config: LABKIT_HUB_SPAWNER must be one of {', '.join(SPAWNERS)}; "
             f"got {spawner!r}")  # fmt: skip
system = spawner == "system"

# -- who signs in ----------------------------------------------------------------------------
admins = {name for name in setting("ADMINS", "teacher").split(",") if name}
c.Authenticator.admin_users = admins
if system:  # each learner is a system user of this host, with their own password (PAM)
    c.JupyterHub.authenticator_class = "pam"
    c.LocalAuthenticator.allowed_groups = {setting("GROUP", "labkit")}  # the class's group
else:  # one shared password: a try-out
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = setting("PASSWORD", "") or secret_file("password")
    c.SharedPasswordAuthenticator.admin_password = secret_file("admin-password", 24)
    c.Authenticator.allow_all = True

# -- each learner's server: their lab first, stopped with it ----------------------------------
python = sys.executable
if system:  # LocalProcessSpawner: each server as the learner's user, in their home
    c.JupyterHub.spawner_class = "localprocess"
else:  # SimpleLocalProcessSpawner: all as the hub's user
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = setting("HOMES", "/tmp/labkit-hub/{username}")
nodes = ["--nodes", setting("NODES", "")] if setting("NODES", "") else []
c.Spawner.cmd = [python, "-m", "labkit.hub", *nodes, "--", python, "-m", "jupyterhub.singleuser"]
c.Spawner.ip = "127.0.0.1"
# offline, and nothing to distract: no news feed (nor its "get notified?" question), no
# update check
c.Spawner.args = ["--LabApp.news_url=None",
                  "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
if os.geteuid() == 0 and not system:  # a try-out as root (a container): servers as root too
    c.Spawner.args.append("--allow-root")
c.Spawner.default_url = "/lab"
# labkit's venv (labkit, prometheus' package on /usr/bin) for the server, its terminals and
# kernels; PYTHONPATH too (JupyterHub keeps it), so a checkout runs its own labkit
c.Spawner.environment = {
    "PATH": os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "/usr/bin:/bin")])
}
# the lab starts before the server answers: up to 2 minutes for a previous lab to stop, up to
# 150 s for this one to be ready (labkit.hub), then the server's own start
c.Spawner.http_timeout = 300
c.Spawner.start_timeout = 300

# -- idle servers are culled, and their labs stop with them -----------------------------------
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [python, "-m", "jupyterhub_idle_culler",
                    f"--timeout={setting('CULL_TIMEOUT', '3600')}",
                    f"--cull-every={setting('CULL_EVERY', '300')}"],
    }
]  # fmt: skip
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "description": "Culls idle servers (and so their labs)",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
if setting("ADMIN_TOKEN", ""):  # scripts and tests: create users, start and stop servers
    c.JupyterHub.services.append({"name": "labkit-admin", "api_token": setting("ADMIN_TOKEN", "")})
    c.JupyterHub.load_roles.append({"name": "admin", "services": ["labkit-admin"]})

if shutil.which("prometheus") is None:
    print("jupyterhub_config: prometheus is not on the PATH: every learner's lab will fail to "
          "start (`make os-packages` installs it)", file=sys.stderr)  # fmt: skip

if system:
    if os.geteuid() != 0:
        print("jupyterhub_config: LABKIT_HUB_SPAWNER=system runs each server as its learner's "
              "user: the hub must run as root", file=sys.stderr)  # fmt: skip
    print(f"labkit hub: open {c.JupyterHub.bind_url}/ and sign in as a user of this host "
          f"(admins: {', '.join(sorted(admins))})", file=sys.stderr)  # fmt: skip
else:
    where = "LABKIT_HUB_PASSWORD" if setting("PASSWORD", "") else HUB_DIR / "password"
    print(f"labkit hub: open {c.JupyterHub.bind_url}/ and sign in with any user name and the "
          f"password in {where} ({', '.join(sorted(admins))}: {HUB_DIR / 'admin-password'})",
          file=sys.stderr)  # fmt: skip
