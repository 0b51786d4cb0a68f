"""The verbs of `faas` (click). Each one reads its inputs, calls the pure parts and the
adapters (client.py, build.py), and prints: tables for a person, JSON with --json."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from . import __version__, args, build, output, payload, templates
from .client import Client
from .config import (
    Gateway,
    config_path,
    load_file,
    normalize_url,
    resolve_gateway,
    save_file,
    with_login,
)
from .errors import CliError, Exit, invoke_error
from .stack import NAME_RE, Function, Stack, parse_stack

STACK_FILES = ("stack.yml", "stack.yaml")
_NO_FLAGS: dict[str, Any] = {"url": None, "user": None, "password_file": None, "ca": None,
                             "insecure": False}


# --- shared options -------------------------------------------------------------------
def gateway_options(f: Callable) -> Callable:
    @click.option("-g", "--gateway", help="Gateway URL [env OPENFAAS_URL, SWARMFAAS_URL; "
                  "default: the stack file's provider.gateway, then `faas login`'s].")
    @click.option("--user", help="User name [env SWARMFAAS_USER; default admin].")
    @click.option("--password-file", type=click.Path(dir_okay=False),
                  help="File holding the password [env SWARMFAAS_PASSWORD_FILE].")
    @click.option("--tls-ca", type=click.Path(dir_okay=False),
                  help="CA file to trust, e.g. .state/faas/certs/ca.pem [env SWARMFAAS_CA].")
    @click.option("--tls-no-verify", is_flag=True,
                  help="Do not check the certificate (testing only).")
    @functools.wraps(f)
    def wrapper(*a: Any, gateway: str | None, user: str | None, password_file: str | None,
                tls_ca: str | None, tls_no_verify: bool, **kw: Any) -> Any:
        kw["gw_flags"] = {"url": gateway, "user": user, "password_file": password_file,
                          "ca": tls_ca, "insecure": tls_no_verify}
        return f(*a, **kw)
    return wrapper


wait_option = click.option(
    "--wait", default=60.0, show_default=True,
    help="Seconds to wait for a ready replica of each function; 0 returns at once.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
stack_option = click.option("-f", "--yaml", "stack_file", type=click.Path(dir_okay=False),
                            help="Stack file [default: stack.yml or stack.yaml here].")


def _gateway(gw_flags: dict[str, Any], stack_url: str = "") -> Gateway:
    return resolve_gateway(**gw_flags, env=os.environ, stack_url=stack_url,
                           saved=load_file(config_path(os.environ)),
                           read=lambda p: Path(p).read_text())


def _client(gw_flags: dict[str, Any], stack_url: str = "") -> Client:
    return Client(_gateway(gw_flags, stack_url))


def _stack_path(stack_file: str | None) -> Path:
    if stack_file:
        return Path(stack_file)
    for name in STACK_FILES:
        if Path(name).is_file():
            return Path(name)
    raise CliError("no stack file here (stack.yml)", Exit.USAGE,
                   "create one with `faas new NAME --lang python`, or pass -f FILE")


def _load_stack(stack_file: str | None) -> tuple[Path, Stack]:
    path = _stack_path(stack_file)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path} ({exc.strerror})", Exit.USAGE) from None
    base = path.parent

    def read(p: str) -> str:
        return (base / p).read_text()

    return path, parse_stack(text, env=os.environ, read=read, where=str(path))


def _check_templates(stack: Stack, found: list[templates.Template]) -> None:
    """configuration.templates must be here already: nothing is fetched (offline builds)."""
    names = {t.name for t in found}
    missing = [t for t in stack.templates if t.name and t.name not in names]
    if missing:
        t = missing[0]
        raise CliError(
            f"template {t.name!r} (configuration.templates, from {t.source or 'no source'}) "
            "is not in ./template/", Exit.USAGE,
            "this CLI fetches nothing: put the template folder in ./template/ (faas-cli "
            "`template pull` layout), or use a shipped one (`faas template list`)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faas")
def cli() -> None:
    """swarmfaas' command line: create, build, deploy and call functions.

    Reads OpenFaaS stack files (stack.yml). Exit codes: 0 ok, 1 the function or
    the platform failed, 2 usage, 3 credentials refused, 4 gateway or Docker
    unreachable. See docs/cli.md.
    """


# --- login ------------------------------------------------------------------------------
@cli.command()
@gateway_options
@click.option("-u", "--username", help="User name [default admin].")
@click.option("-s", "--password-stdin", is_flag=True, help="Read the password from stdin.")
def login(gw_flags: dict[str, Any], username: str | None, password_stdin: bool) -> None:
    """Check credentials against the gateway and save them (mode 600) for the next commands.

    \b
    faas login -g https://127.0.0.1:8443 --tls-ca .state/faas/certs/ca.pem \\
        --password-stdin < .state/faas/basic-auth-password
    """
    if username:
        gw_flags["user"] = username
    gw = _gateway(gw_flags)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        gw = Gateway(gw.url, gw.user, password, gw.ca, gw.verify)
    if not gw.password:
        raise CliError("no password given", Exit.USAGE,
                       "pass --password-stdin (e.g. < .state/faas/basic-auth-password) "
                       "or --password-file FILE")
    with Client(gw) as c:
        c.info()  # a 401 here is exit 3 and nothing is saved
    path = config_path(os.environ)
    save_file(path, with_login(load_file(path), gw))
    output.out.print(f"logged in to {gw.url} as {gw.user} (saved in {path})")


# --- new / template ---------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("--lang", "-l", required=True, help="Template (`faas template list`).")
@click.option("--image", help="Image name [default swarmfaas/fn-NAME:latest].")
@stack_option
def new(name: str, lang: str, image: str | None, stack_file: str | None) -> None:
    """Create a function NAME from a template: a handler folder ./NAME and an entry in stack.yml."""
    if not NAME_RE.fullmatch(name):
        raise CliError(f"function name {name!r} is not valid", Exit.USAGE,
                       "use 1-63 of a-z, 0-9 and -, starting and ending with a letter or digit")
    tpl = templates.find(lang, templates.discover(Path.cwd()))
    handler = Path(name)
    if handler.exists():
        raise CliError(f"./{name} already exists", Exit.USAGE, "choose another name or remove it")
    path = Path(stack_file) if stack_file else next(
        (Path(n) for n in STACK_FILES if Path(n).is_file()), Path(STACK_FILES[0]))
    doc: dict[str, Any] = {}
    if path.is_file():
        doc = yaml.safe_load(path.read_text()) or {}
        if name in (doc.get("functions") or {}):
            raise CliError(f"{path} already has a function {name!r}", Exit.USAGE)
    shutil.copytree(tpl.path / "function", handler)
    doc.setdefault("version", 1.0)
    doc.setdefault("provider", {"name": "openfaas", "gateway": _gateway(_NO_FLAGS).url})
    doc.setdefault("functions", {})
    doc["functions"][name] = {"lang": tpl.name, "handler": f"./{name}",
                              "image": image or f"swarmfaas/fn-{name}:latest"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    output.out.print(f"created ./{name} ({tpl.name}) and added it to {path}")
    if tpl.welcome:
        output.out.print(tpl.welcome)
    output.out.print(f"next: faas up -f {path}")


@cli.group("template")
def template_group() -> None:
    """Templates: the project's ./template/ first, then the shipped ones."""


@template_group.command("list")
@json_option
def template_list(as_json: bool) -> None:
    """List the templates `faas new --lang` accepts."""
    found = templates.discover(Path.cwd())
    if as_json:
        output.emit_json([{"name": t.name, "aliases": list(t.aliases), "origin": t.origin,
                           "description": t.description} for t in found])
        return
    output.table("templates", ["lang", "aliases", "from", "description"],
                 [(t.name, ", ".join(t.aliases), t.origin, t.description) for t in found])


# --- build / push / deploy / up ---------------------------------------------------------
def _build_all(stack_file: str | None, names: tuple[str, ...], watchdog_tag: str,
               no_cache: bool, build_args: tuple[str, ...]) -> list[Function]:
    path, stack = _load_stack(stack_file)
    project = path.parent.resolve()
    found = templates.discover(project)
    _check_templates(stack, found)
    extra = dict(args.pairs(build_args, "--build-arg"))
    fns = stack.select(names)
    for fn in fns:
        if fn.skip_build:
            output.err.print(f"{fn.name}: skip_build, not built")
            continue
        build.check_image_name(fn.image)
        tpl = templates.find(fn.lang or "dockerfile", found)
        log = project / build.BUILD_DIR / f"{fn.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        with output.err.status(f"building {fn.name} ({tpl.name}) -> {fn.image}"):
            ctx = build.prepare_context(project, fn, tpl)
            build.fetch_deps(ctx, tpl.deps, log)
            cmd = build.docker_build_args(context=ctx, image=fn.image, watchdog_tag=watchdog_tag,
                                          build_args={**fn.build_args, **extra},
                                          iidfile=log.with_suffix(".iid"), no_cache=no_cache)
            iid = build.docker_build(cmd, log)
            pin = build.pinned(fn.image, iid)
            build.tag(fn.image, pin, log)
        build.record_build(project, fn.name, build.Built(fn.image, pin))
        output.err.print(f"built {fn.name}: {fn.image} ({pin})")
    return list(fns)


build_options = [
    click.argument("names", nargs=-1),
    stack_option,
    click.option("--watchdog-tag", envvar="SWARMFAAS_WATCHDOG_TAG", default="latest",
                 show_default=True, help="Tag of swarmfaas/watchdog to build FROM "
                 "[env SWARMFAAS_WATCHDOG_TAG]."),
    click.option("--no-cache", is_flag=True, help="Build without Docker's layer cache."),
    click.option("--build-arg", "build_args", multiple=True, help="KEY=VALUE, repeatable."),
]


def _apply(options: list[Callable]) -> Callable:
    def deco(f: Callable) -> Callable:
        for o in reversed(options):
            f = o(f)
        return f
    return deco


@cli.command("build")
@_apply(build_options)
def build_cmd(names: tuple[str, ...], stack_file: str | None, watchdog_tag: str,
              no_cache: bool, build_args: tuple[str, ...]) -> None:
    """Build the images of the stack file's functions (or of NAMES) with the local Docker.

    Dependencies are fetched on this host (pip wheels, npm, go mod vendor), so
    the image build needs no registry. The build runs the handler's test.
    """
    _build_all(stack_file, names, watchdog_tag, no_cache, build_args)


def _push(fns: list[Function], project: Path, registry: str | None,
          via: str | None = None) -> None:
    """Push what `faas build` made (its content-named tag) to the image's
    registry, or to ``registry`` when the name has none (through ``via`` if
    given), and record the digest: `faas deploy` then names the image by
    registry and digest, which every node of a swarm can pull
    (docs/multi-node.md)."""
    for fn in fns:
        built = build.last_build(project, fn) or build.Built(fn.image, fn.image)
        plan = build.push_plan(built.pinned, registry, via)
        if plan is None:
            output.err.print(
                f"{fn.name}: {fn.image} names no registry, so it stays in the local engine "
                "(enough on a one-node swarm). For several nodes, give --registry "
                "(the platform's, e.g. 10.77.0.11:5000) or name the image registry.example/...")
            continue
        image, target = plan
        log = project / build.BUILD_DIR / f"{fn.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with output.err.status(f"pushing {image}"):
            if image != built.pinned:
                build.tag(built.pinned, image, log)
            build._run(["docker", "push", image], log, "docker push",
                       "check that the registry answers (and `docker login` to it)")
        digest = build.pushed_digest(image, log)
        if digest is None:
            raise CliError(f"{fn.name}: pushed {image}, but Docker reports no digest for it",
                           Exit.FAILED, f"see {log}")
        # The same bytes under the registry's own name: what the nodes pull.
        pulled = build.in_registry(digest, target)
        build.record_build(project, fn.name, build.Built(built.image, built.pinned, pulled))
        output.err.print(f"pushed {fn.name}: {pulled}" + (f" (through {via})" if via else ""))


registry_option = click.option(
    "--registry", envvar="SWARMFAAS_REGISTRY", default=None,
    help="Registry (host:port) to push to when an image names none, e.g. the platform's "
         "on a swarm of several nodes [env SWARMFAAS_REGISTRY].")
push_via_option = click.option(
    "--push-via", envvar="SWARMFAAS_PUSH_VIA", default=None,
    help="Push through this address of the same registry instead (host:port, e.g. a "
         "relay on 127.0.0.1); deploy still names the registry the nodes pull from "
         "[env SWARMFAAS_PUSH_VIA].")


@cli.command()
@click.argument("names", nargs=-1)
@stack_option
@registry_option
@push_via_option
def push(names: tuple[str, ...], stack_file: str | None, registry: str | None,
         push_via: str | None) -> None:
    """Push the built images to their registry (the image name's, or --registry);
    `faas deploy` then sends them by registry and digest."""
    path, stack = _load_stack(stack_file)
    _push(list(stack.select(names)), path.parent.resolve(), registry, push_via)


def _wait_ready(c: Client, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    with output.err.status(f"waiting for {', '.join(pending)} to be ready"):
        while pending:
            pending = [n for n in pending if not output.is_ready(c.describe(n))]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise CliError(
                    f"{', '.join(pending)} not ready after {timeout:.0f} s", Exit.FAILED,
                    f"see `faas describe {pending[0]}` and `docker service ps` for its tasks")
            time.sleep(0.5)


def _deploy(fns: list[Function], project: Path, gw_flags: dict[str, Any], stack: Stack,
            as_json: bool, wait: float = 0) -> None:
    results = []
    with _client(gw_flags, stack.gateway) as c:
        for fn in fns:
            body = payload.deployment(fn)
            built = build.last_build(project, fn)
            if built:
                body["image"] = built.pushed or built.pinned
            action = c.deploy(body)
            results.append({"name": fn.name, "image": body["image"], "action": action})
            if not as_json:
                output.err.print(f"{action} {fn.name} ({body['image']}): "
                                 f"{c.gw.url}/function/{fn.name}")
        if wait > 0:
            _wait_ready(c, [fn.name for fn in fns], wait)
    if as_json:
        output.emit_json(results)


@cli.command()
@click.argument("names", nargs=-1)
@stack_option
@wait_option
@gateway_options
@json_option
def deploy(names: tuple[str, ...], stack_file: str | None, wait: float,
           gw_flags: dict[str, Any], as_json: bool) -> None:
    """Deploy (create or update) the stack file's functions, or NAMES of them.

    Sends the image `faas push` stored (registry and digest, which every node
    can pull), else the one `faas build` made (pinned to its content, so an
    update rolls), and waits until each function has a ready replica (--wait).
    """
    path, stack = _load_stack(stack_file)
    _deploy(list(stack.select(names)), path.parent.resolve(), gw_flags, stack, as_json, wait)


@cli.command()
@_apply(build_options)
@click.option("--skip-push", is_flag=True, help="Do not push.")
@registry_option
@push_via_option
@wait_option
@gateway_options
@json_option
def up(names: tuple[str, ...], stack_file: str | None, watchdog_tag: str, no_cache: bool,
       build_args: tuple[str, ...], skip_push: bool, registry: str | None,
       push_via: str | None, wait: float, gw_flags: dict[str, Any], as_json: bool) -> None:
    """build, push and deploy, in one go."""
    fns = _build_all(stack_file, names, watchdog_tag, no_cache, build_args)
    path, stack = _load_stack(stack_file)
    if not skip_push:
        _push(fns, path.parent.resolve(), registry, push_via)
    _deploy(fns, path.parent.resolve(), gw_flags, stack, as_json, wait)


# --- invoke -----------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("-d", "--data", help="Request body [default: stdin, when it is not a terminal].")
@click.option("-H", "--header", "headers", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("-m", "--method", default="POST", show_default=True)
@click.option("-q", "--query", "queries", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("-a", "--async", "is_async", is_flag=True, help="Queue the call (/async-function).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait.")
@gateway_options
def invoke(name: str, data: str | None, headers: tuple[str, ...], method: str,
           queries: tuple[str, ...], is_async: bool, timeout: float,
           gw_flags: dict[str, Any]) -> None:
    """Call function NAME: the body from --data or stdin, the answer's body on stdout."""
    if data is not None:
        body = data.encode()
    elif not sys.stdin.isatty():
        body = sys.stdin.buffer.read()
    else:
        body = b""
    hdrs = dict(args.pairs(headers, "--header"))
    query = args.pairs(queries, "--query")
    with _client(gw_flags) as c:
        a = c.invoke(name, data=body, method=method.upper(), headers=hdrs, query=query,
                     is_async=is_async, timeout=timeout)
    problem = invoke_error(a.status, a.headers, a.body, name=name, is_async=is_async)
    if problem is None or not a.headers.get("x-swarmfaas-internal"):
        sys.stdout.buffer.write(a.body)  # the function's own answer, even an error
        sys.stdout.flush()
    if problem:
        raise problem
    if is_async:
        output.err.print(f"queued ({a.status}); call id {a.headers.get('x-call-id', '-')}")


# --- list / describe / logs / scale / remove -------------------------------------------
@cli.command("list")
@gateway_options
@json_option
def list_cmd(gw_flags: dict[str, Any], as_json: bool) -> None:
    """List the deployed functions."""
    with _client(gw_flags) as c:
        fns = c.list()
    if as_json:
        output.emit_json(fns)
    else:
        output.table("functions", ["name", "stack", "ready", "invocations", "image"],
                     output.function_rows(fns))


@cli.command()
@click.argument("name")
@gateway_options
@json_option
def describe(name: str, gw_flags: dict[str, Any], as_json: bool) -> None:
    """Show one function: image, replicas, labels, limits..."""
    with _client(gw_flags) as c:
        f = c.describe(name)
        url = f"{c.gw.url}/function/{name}"
    if as_json:
        output.emit_json(f)
        return
    output.table(name, ["field", "value"], [*output.describe_rows(f), ("url", url)])


@cli.command()
@click.argument("name")
@click.option("--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--since", "since_", default="", help="Only newer lines: 10m, 2h, or a time.")
@click.option("--tail", type=int, default=None, help="Only the last N lines.")
@gateway_options
@json_option
def logs(name: str, follow: bool, since_: str, tail: int | None, gw_flags: dict[str, Any],
         as_json: bool) -> None:
    """Print the logs of function NAME (GET /system/logs)."""
    with _client(gw_flags) as c:
        for line in c.logs(name, since=args.since(since_), tail=tail, follow=follow):
            if line:
                click.echo(line if as_json else output.log_line(line))


@cli.command()
@click.argument("name")
@click.argument("replicas", type=int)
@gateway_options
def scale(name: str, replicas: int, gw_flags: dict[str, Any]) -> None:
    """Set the number of replicas of function NAME."""
    with _client(gw_flags) as c:
        c.scale(name, args.replicas(replicas))
    output.err.print(f"scaling {name} to {replicas} (watch it with `faas describe {name}`)")


@cli.command()
@click.argument("names", nargs=-1)
@stack_option
@gateway_options
def remove(names: tuple[str, ...], stack_file: str | None, gw_flags: dict[str, Any]) -> None:
    """Remove functions NAMES (or every function of the stack file)."""
    stack_url = ""
    if not names:
        _, stack = _load_stack(stack_file)
        names, stack_url = tuple(f.name for f in stack.functions), stack.gateway
    with _client(gw_flags, stack_url) as c:
        for n in names:
            c.remove(n)
            output.err.print(f"removed {n}")


# --- secrets -----------------------------------------------------------------------------
@cli.group()
def secret() -> None:
    """Docker secrets for functions (/system/secrets)."""


def _secret_value(from_file: str | None) -> bytes:
    """The value from --from-file or stdin, as bytes (binary files arrive intact)."""
    value = Path(from_file).read_bytes() if from_file else sys.stdin.buffer.read()
    if not value:
        raise CliError("the secret's value is empty", Exit.USAGE,
                       "pipe it in (`faas secret create NAME < file`) or pass --from-file")
    return value


secret_file_option = click.option(
    "--from-file", type=click.Path(dir_okay=False, exists=True),
    help="Read the value from a file [default: stdin].")


@secret.command("create")
@click.argument("name")
@secret_file_option
@gateway_options
@json_option
def secret_create(name: str, from_file: str | None, gw_flags: dict[str, Any],
                  as_json: bool) -> None:
    """Create secret NAME from stdin or --from-file (never from a flag: shells keep history).

    A function gets it with `secrets: [NAME]` in its stack file."""
    value = _secret_value(from_file)
    with _client(gw_flags) as c:
        c.secret_create(name, value)
    _secret_done(as_json, name, "created")


@secret.command("update")
@click.argument("name")
@secret_file_option
@gateway_options
@json_option
def secret_update(name: str, from_file: str | None, gw_flags: dict[str, Any],
                  as_json: bool) -> None:
    """Replace the value of secret NAME (only while no function uses it: Swarm
    secrets are immutable, so it is removed and created again)."""
    value = _secret_value(from_file)
    with _client(gw_flags) as c:
        c.secret_update(name, value)
    _secret_done(as_json, name, "updated")


def _secret_done(as_json: bool, name: str, what: str) -> None:
    if as_json:
        output.emit_json({"name": name, "status": what})
    else:
        output.err.print(f"{what} secret {name}")


@secret.command("list")
@gateway_options
@json_option
def secret_list(gw_flags: dict[str, Any], as_json: bool) -> None:
    """List the secrets (names only: values are never returned)."""
    with _client(gw_flags) as c:
        found = c.secrets()
    if as_json:
        output.emit_json(found)
    else:
        output.table("secrets", ["name"], [(str(s.get("name", "")),) for s in found])


@secret.command("remove")
@click.argument("name")
@gateway_options
@json_option
def secret_remove(name: str, gw_flags: dict[str, Any], as_json: bool) -> None:
    """Remove secret NAME (not while a function uses it)."""
    with _client(gw_flags) as c:
        c.secret_remove(name)
    _secret_done(as_json, name, "removed")


# --- version / completion -----------------------------------------------------------
@cli.command()
@gateway_options
@json_option
def version(gw_flags: dict[str, Any], as_json: bool) -> None:
    """The CLI's version and the gateway's (GET /system/info)."""
    with _client(gw_flags) as c:
        info = c.info()
    if as_json:
        output.emit_json({"cli": __version__, "gateway": info})
        return
    prov = info.get("provider", {}) if isinstance(info, dict) else {}
    output.out.print(f"faas {__version__}\ngateway: {prov.get('provider', '?')} "
                     f"{(prov.get('version') or {}).get('release', '')} on "
                     f"{prov.get('orchestration', '?')}")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `eval "$(faas completion bash)"`."""
    env = {**os.environ, "_FAAS_COMPLETE": f"{shell}_source"}
    exe = shutil.which("faas") or sys.argv[0]
    subprocess.run([exe], env=env, check=False)


__all__ = ["cli", "normalize_url"]
