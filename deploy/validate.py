#!/usr/bin/env python3
"""Check the shipping artefacts: deploy/ manifests, the dashboard, the alerts and app.yml.

    python3 deploy/validate.py        (from anywhere; exit 0 when everything holds)

What it checks:
  - every YAML document under deploy/ and app.yml parses, every JSON file parses;
  - each Kubernetes file holds the kinds it should; kustomization.yaml lists files that exist
    and never the example Secret;
  - the Deployment: liveness on /healthz, readiness on /readyz, on the container's named port;
    non-root, read-only root filesystem, no privilege escalation; the data directory mounted
    from a volume; terminationGracePeriodSeconds set; DATABASE_URL from the Secret; every
    secretKeyRef and secret volume item names a key secret.example.yaml has; the Service
    targets the container's port;
  - the Grafana dashboard: schemaVersion >= 36, a Prometheus datasource variable that every
    panel and query uses, unique panel ids;
  - every patchgate_* metric the dashboard or the alerts name is in deploy/metrics.txt (the one
    list), and the dashboard shows every metric of that list; the list is what
    src/server/metrics.rs registers (once it registers anything);
  - every alert has expr, a severity label and a summary;
  - docs/operations.md describes every metric of the list, and no other;
  - app.yml asks for exactly the permissions and events patchgate needs: it subscribes to
    every event `Kind::of` in src/webhook/mod.rs takes, and to no other, each with the
    permission GitHub requires to deliver it.

Needs PyYAML (`pip install pyyaml`, or `pip install --target DIR pyyaml` and PYTHONPATH=DIR).
"""

import json
import os
import pathlib
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("deploy/validate.py: PyYAML is needed (pip install pyyaml)")

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
K8S = DEPLOY / "kubernetes"

EXPECTED_KINDS = {
    "deployment.yaml": ["Deployment"],
    "service.yaml": ["Service"],
    "secret.example.yaml": ["Secret"],
    "configmap.yaml": ["ConfigMap"],
    "kustomization.yaml": ["Kustomization"],
}
APP_PERMISSIONS = {
    "checks": "write",
    "pull_requests": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "statuses": "read",
    "merge_queues": "read",
}
APP_EVENTS = {"pull_request", "issue_comment", "check_run", "check_suite", "status", "merge_group"}
# GitHub delivers an event to an App only with this permission (at least read).
EVENT_NEEDS = {
    "pull_request": "pull_requests",
    "issue_comment": "issues",
    "check_run": "checks",
    "check_suite": "checks",
    "status": "statuses",
    "merge_group": "merge_queues",
}

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def rel(path):
    return str(path.relative_to(ROOT))


def load_yaml_docs(path):
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        problem(rel(path), f"does not parse as YAML: {e}")
        return []


def metric_list():
    names = []
    for line in (DEPLOY / "metrics.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            if not re.fullmatch(r"patchgate_[a-z0-9_]+", line):
                problem("deploy/metrics.txt", f"`{line}` is not a patchgate metric name")
            names.append(line)
    if len(names) != len(set(names)):
        problem("deploy/metrics.txt", "a name is listed twice")
    return set(names)


METRIC_RE = re.compile(r"\bpatchgate_[a-z0-9_]+")


def base_metric(name, known):
    """A name as written in PromQL -> the name in metrics.txt (histogram series suffixes off)."""
    if name in known:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return None


def check_metrics(where, exprs, known):
    used = set()
    for expr in exprs:
        for name in METRIC_RE.findall(expr):
            base = base_metric(name, known)
            if base is None:
                problem(where, f"metric `{name}` is not in deploy/metrics.txt")
            else:
                used.add(base)
    return used


def check_against_server(known):
    """The names src/server/metrics.rs registers are the names of metrics.txt (counters get
    `_total` on the wire). Skipped while that file registers nothing."""
    path = ROOT / "src" / "server" / "metrics.rs"
    if not path.is_file():
        return
    registered = set(re.findall(r'register\(\s*"(patchgate_[a-z0-9_]+)"', path.read_text()))
    if not registered:
        return
    for name in sorted(registered):
        if name not in known and name + "_total" not in known:
            problem("deploy/metrics.txt", f"lacks `{name}`, which src/server/metrics.rs registers")
    for name in sorted(known):
        if name not in registered and name.removesuffix("_total") not in registered:
            problem("deploy/metrics.txt", f"lists `{name}`, which src/server/metrics.rs does not register")


def check_kubernetes():
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        ds = load_yaml_docs(path)
        docs[path.name] = ds
        kinds = [d.get("kind") for d in ds]
        want = EXPECTED_KINDS.get(path.name)
        if want is None:
            problem(rel(path), "unexpected file (add it to EXPECTED_KINDS in deploy/validate.py)")
        elif kinds != want:
            problem(rel(path), f"holds kinds {kinds}, expected {want}")
    for name in EXPECTED_KINDS:
        if name not in docs:
            problem(f"deploy/kubernetes/{name}", "missing")

    kust = (docs.get("kustomization.yaml") or [{}])[0]
    for res in kust.get("resources", []):
        if not (K8S / res).is_file():
            problem("deploy/kubernetes/kustomization.yaml", f"resource {res} does not exist")
        if "example" in res:
            problem("deploy/kubernetes/kustomization.yaml", f"lists {res}: placeholders must never be applied")

    secret = (docs.get("secret.example.yaml") or [{}])[0]
    secret_keys = set((secret.get("stringData") or {}).keys()) | set((secret.get("data") or {}).keys())
    secret_name = (secret.get("metadata") or {}).get("name")

    dep = (docs.get("deployment.yaml") or [None])[0]
    if not dep:
        return
    where = "deploy/kubernetes/deployment.yaml"
    pod = dep["spec"]["template"]["spec"]
    if dep["spec"].get("replicas", 1) > 1:
        pass  # several replicas need DATABASE_URL: checked below
    if not isinstance(pod.get("terminationGracePeriodSeconds"), int):
        problem(where, "terminationGracePeriodSeconds is not set")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        problem(where, "pod securityContext.runAsNonRoot is not true")
    if psc.get("runAsUser") != 10001:
        problem(where, "pod runs as a uid other than the image's 10001")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    containers = pod.get("containers", [])
    if len(containers) != 1:
        problem(where, f"{len(containers)} containers, expected 1")
    for c in containers:
        csc = c.get("securityContext", {})
        if csc.get("readOnlyRootFilesystem") is not True:
            problem(where, "readOnlyRootFilesystem is not true")
        if csc.get("allowPrivilegeEscalation") is not False:
            problem(where, "allowPrivilegeEscalation is not false")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path:
                problem(where, f"{probe} path is {get.get('path')!r}, expected {path}")
            if get.get("port") not in ports and get.get("port") not in ports.values():
                problem(where, f"{probe} port {get.get('port')!r} is not a container port")
        env = {e["name"]: e for e in c.get("env", [])}
        listen = (env.get("PATCHGATE_LISTEN") or {}).get("value", "")
        if not listen.endswith(f":{ports.get('http')}"):
            problem(where, f"PATCHGATE_LISTEN {listen!r} does not match the http port {ports.get('http')}")
        db = (env.get("DATABASE_URL") or {}).get("valueFrom", {}).get("secretKeyRef")
        if dep["spec"].get("replicas", 1) > 1 and not db:
            problem(where, "several replicas but DATABASE_URL does not come from the Secret")
        for name, e in env.items():
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                if ref.get("name") != secret_name:
                    problem(where, f"{name} reads Secret {ref.get('name')!r}, not {secret_name!r}")
                if ref.get("key") not in secret_keys:
                    problem(where, f"{name} reads key {ref.get('key')!r} that secret.example.yaml lacks")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        data_dir = (env.get("PATCHGATE_DATA_DIR") or {}).get("value")
        if data_dir not in mounts:
            problem(where, f"the data directory {data_dir!r} is not a mounted volume")
        for path, vol in mounts.items():
            if vol not in volumes:
                problem(where, f"volume mount {path} names no volume {vol!r}")
        key_path = (env.get("PATCHGATE_GITHUB_PRIVATE_KEY") or {}).get("value", "")
        if not any(key_path.startswith(p.rstrip("/") + "/") for p in mounts):
            problem(where, f"PATCHGATE_GITHUB_PRIVATE_KEY {key_path!r} is not in a mounted volume")
        cfg_path = (env.get("PATCHGATE_CONFIG") or {}).get("value", "")
        if cfg_path and not any(cfg_path.startswith(p.rstrip("/") + "/") for p in mounts):
            problem(where, f"PATCHGATE_CONFIG {cfg_path!r} is not in a mounted volume")
    for v in volumes.values():
        sec = v.get("secret")
        if sec:
            for item in sec.get("items", []):
                if item["key"] not in secret_keys:
                    problem(where, f"secret volume item {item['key']!r} is not in secret.example.yaml")

    svc = (docs.get("service.yaml") or [None])[0]
    if svc:
        sel = svc["spec"].get("selector", {})
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        if any(labels.get(k) != v for k, v in sel.items()):
            problem("deploy/kubernetes/service.yaml", "selector does not match the Deployment's pods")
        names = {p.get("name") for c in containers for p in c.get("ports", [])}
        for p in svc["spec"].get("ports", []):
            if p.get("targetPort") not in names:
                problem("deploy/kubernetes/service.yaml", f"targetPort {p.get('targetPort')!r} is not a container port name")

    cm = (docs.get("configmap.yaml") or [None])[0]
    if cm:
        for key, text in (cm.get("data") or {}).items():
            try:
                cfg = yaml.safe_load(text)
            except yaml.YAMLError as e:
                problem("deploy/kubernetes/configmap.yaml", f"{key} does not parse: {e}")
                continue
            if not isinstance(cfg, dict) or "auditors" not in cfg:
                problem("deploy/kubernetes/configmap.yaml", f"{key} is not a server config (no auditors)")


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard(known):
    path = DEPLOY / "grafana" / "patchgate-dashboard.json"
    where = rel(path)
    try:
        dash = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        problem(where, f"does not parse as JSON: {e}")
        return
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problem(where, f"schemaVersion {dash.get('schemaVersion')!r} < 36")
    variables = dash.get("templating", {}).get("list", [])
    ds_vars = [v["name"] for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if not ds_vars:
        problem(where, "no Prometheus datasource variable")
    ds_uid = "${%s}" % (ds_vars[0] if ds_vars else "datasource")
    ids, exprs = set(), []
    for p in walk_panels(dash.get("panels", [])):
        if p.get("id") in ids:
            problem(where, f"panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != ds_uid:
            problem(where, f"panel {p.get('title')!r} does not use the datasource variable")
        if not p.get("targets"):
            problem(where, f"panel {p.get('title')!r} has no query")
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("uid") != ds_uid:
                problem(where, f"a query of {p.get('title')!r} does not use the datasource variable")
            exprs.append(t.get("expr", ""))
    for v in variables:
        q = v.get("query")
        exprs.append(q.get("query", "") if isinstance(q, dict) else (q or "") if v.get("type") == "query" else "")
    used = check_metrics(where, exprs, known)
    for name in sorted(known - used):
        problem(where, f"no panel shows `{name}` (listed in deploy/metrics.txt)")


def check_alerts(known):
    path = DEPLOY / "prometheus" / "alerts.yaml"
    where = rel(path)
    docs = load_yaml_docs(path)
    if len(docs) != 1 or "groups" not in docs[0]:
        problem(where, "expected one document with `groups:`")
        return
    exprs, names = [], set()
    for g in docs[0]["groups"]:
        for r in g.get("rules", []):
            name = r.get("alert") or r.get("record")
            if not name:
                problem(where, "a rule has neither alert nor record")
                continue
            if name in names:
                problem(where, f"{name} defined twice")
            names.add(name)
            if not r.get("expr"):
                problem(where, f"{name} has no expr")
            exprs.append(str(r.get("expr", "")))
            if r.get("alert"):
                if (r.get("labels") or {}).get("severity") not in {"info", "warning", "critical"}:
                    problem(where, f"{name} has no severity label (info, warning, critical)")
                if not (r.get("annotations") or {}).get("summary"):
                    problem(where, f"{name} has no summary annotation")
    check_metrics(where, exprs, known)


def check_operations_doc(known):
    """docs/operations.md's metrics table: every listed metric, nothing else."""
    path = ROOT / "docs" / "operations.md"
    if not path.is_file():
        problem("docs/operations.md", "missing")
        return
    where = rel(path)
    text = path.read_text()
    used = check_metrics(where, [text], known)
    for name in sorted(known - used):
        problem(where, f"does not describe `{name}` (listed in deploy/metrics.txt)")


def check_app_manifest():
    path = ROOT / "app.yml"
    docs = load_yaml_docs(path)
    if len(docs) != 1:
        problem("app.yml", "expected one YAML document")
        return
    app = docs[0]
    for key in ("name", "url", "hook_attributes", "redirect_url", "public", "default_permissions", "default_events"):
        if key not in app:
            problem("app.yml", f"missing `{key}`")
    callbacks = app.get("callback_urls") or []
    if len(callbacks) != 1 or not str(callbacks[0]).endswith("/ui/oauth/callback"):
        problem("app.yml", f"callback_urls {callbacks!r} is not one URL ending in /ui/oauth/callback (the web view's sign-in)")
    hook = (app.get("hook_attributes") or {}).get("url", "")
    if not hook.endswith("/webhook/github"):
        problem("app.yml", f"hook_attributes.url {hook!r} does not end in /webhook/github")
    if app.get("default_permissions") != APP_PERMISSIONS:
        problem("app.yml", f"permissions {app.get('default_permissions')} are not exactly {APP_PERMISSIONS}")
    events = app.get("default_events") or []
    if set(events) != APP_EVENTS or len(events) != len(APP_EVENTS):
        problem("app.yml", f"events {events} are not exactly {sorted(APP_EVENTS)}")
    perms = app.get("default_permissions") or {}
    for event in events:
        need = EVENT_NEEDS.get(event)
        if need is None:
            problem("app.yml", f"event `{event}`: which permission GitHub requires for it is not known to deploy/validate.py")
        elif need not in perms:
            problem("app.yml", f"event `{event}` is delivered only with the `{need}` permission, which app.yml does not ask for")
    handled = handled_events()
    if handled is not None:
        for event in sorted(handled - set(events)):
            problem("app.yml", f"src/webhook/mod.rs handles `{event}`, but app.yml does not subscribe to it")
        for event in sorted(set(events) - handled):
            problem("app.yml", f"app.yml subscribes to `{event}`, which src/webhook/mod.rs does not handle")


def handled_events():
    """The events `Kind::of` in src/webhook/mod.rs accepts (None if it cannot be read): the one
    list of the GitHub deliveries patchgate handles, which intake's `handled()` asks."""
    path = ROOT / "src/webhook/mod.rs"
    text = path.read_text()
    m = re.search(r"pub fn of\(event: &str.*?\n    }\n", text, re.S)
    if not m:
        problem(rel(path), "no `pub fn of(event: &str, …)` found to compare app.yml's events with")
        return None
    return set(re.findall(r'^\s*\("([a-z_]+)", ', m.group(0), re.M))


def dockerfile_stages(text):
    """The Dockerfile's instructions (continuation lines joined), grouped by stage."""
    lines, cur = [], ""
    for raw in text.splitlines():
        if raw.strip().startswith("#") and not cur:
            continue
        if raw.endswith("\\"):
            cur += raw[:-1] + " "
            continue
        cur += raw
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    stages = []
    for line in lines:
        word = line.split(None, 1)[0].upper()
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, line.split(None, 1)[1] if " " in line else ""))
    return stages


def check_dockerfile():
    where = "Dockerfile"
    path = ROOT / "Dockerfile"
    stages = dockerfile_stages(path.read_text())
    if len(stages) < 2:
        problem(where, "expected a multi-stage build (builder and runtime)")
        return
    runtime = stages[-1]
    words = {w: [a for (x, a) in runtime if x == w] for w in ("USER", "VOLUME", "EXPOSE", "ENTRYPOINT", "RUN")}
    user = (words["USER"] or ["root"])[-1].split(":")[0]
    if user in ("root", "0"):
        problem(where, "the runtime stage must run as a non-root user")
    if not any("/var/lib/patchgate" in v for v in words["VOLUME"]):
        problem(where, "the data directory /var/lib/patchgate must be a VOLUME")
    if "8080" not in " ".join(words["EXPOSE"]):
        problem(where, "EXPOSE 8080 (the default PATCHGATE_LISTEN of the image)")
    if not any("patchgate" in e for e in words["ENTRYPOINT"]):
        problem(where, "ENTRYPOINT must be patchgate")
    # git2's https transport links OpenSSL statically (.cargo/config.toml): libssl-dev in the
    # builder, and the config copied before the first build, or the binary would need libssl3.
    builder_runs = " ".join(a for (x, a) in stages[0] if x == "RUN")
    builder_copies = [a.split()[:-1] for (x, a) in stages[0] if x == "COPY"]
    if not any(".cargo" in srcs for srcs in builder_copies):
        problem(where, "the builder stage must COPY .cargo (OpenSSL and zlib linked statically)")
    for pkg in ("libssl-dev", "pkg-config"):
        if pkg not in builder_runs:
            problem(where, f"the builder stage must install {pkg}")
    # The dependency-caching step builds from a partial tree: replay its COPYs and the commands
    # before `cargo build` in a scratch directory, and make sure Cargo can read the manifest
    # there (a manifest that names a missing target fails the image build).
    import shutil, subprocess, tempfile
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for word, arg in stages[0]:
            if word == "COPY" and "--from" not in arg:
                parts = arg.split()
                srcs, dest = parts[:-1], parts[-1]
                for src in srcs:
                    s_path = ROOT / src
                    d_path = tmp / dest if dest.endswith("/") or len(srcs) > 1 else tmp / dest
                    if dest in ("./", "."):
                        d_path = tmp / pathlib.Path(src).name
                    if s_path.is_dir():
                        shutil.copytree(s_path, d_path, dirs_exist_ok=True)
                    elif s_path.exists():
                        d_path.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(s_path, d_path)
                    else:
                        problem(where, f"COPY {src}: no such file in the repository")
            elif word == "RUN" and "cargo build" in arg:
                setup = arg.split("cargo build", 1)[0].rstrip().rstrip("&").strip()
                if setup:
                    subprocess.run(["bash", "-c", setup], cwd=tmp, check=False)
                probe = subprocess.run(
                    ["cargo", "check", "--locked", "--bin", "__dockerfile_probe__"],
                    cwd=tmp, capture_output=True, text=True,
                    env={**os.environ, "CARGO_TARGET_DIR": str(tmp / "target")},
                )
                if "failed to parse manifest" in probe.stderr or "failed to load manifest" in probe.stderr:
                    problem(where, "the dependency-caching build cannot read Cargo.toml from the files copied so far: "
                            + probe.stderr.strip().splitlines()[-1])
                break


def main():
    known = metric_list()
    check_against_server(known)
    check_kubernetes()
    check_dashboard(known)
    check_alerts(known)
    check_operations_doc(known)
    check_app_manifest()
    check_dockerfile()
    if problems:
        print(f"deploy/validate.py: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"deploy/validate.py: OK ({len(known)} metrics; kubernetes, dashboard, alerts, docs/operations.md, app.yml, Dockerfile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
