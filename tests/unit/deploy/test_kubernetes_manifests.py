"""deploy/kubernetes, rendered and validated offline.

`kubectl kustomize` renders the base and the production overlay; every rendered object, and every
plain manifest under deploy/kubernetes (the Secrets' example, the NATS partner listener), is checked
against the Kubernetes JSON schemas that the `kubernetes-validate` package ships (strict: an
unknown field is an error), for the Kubernetes version below. The CloudNativePG objects are
checked against the operator's own CRD schemas, vendored under crds/ (see its README). The Helm
values files cannot be rendered without their charts: their structure is checked here, and the
one manifest they carry (the Temporal search-attributes Job) is rendered by substitution and
validated like the others. Then the properties that matter in production: replicas, probes,
resources, security contexts, a PodDisruptionBudget, a Service and a NetworkPolicy for every
Deployment, secrets only in Secrets, the Jobs, and the consistency with the code (the processes
devstack runs, the ports, the search attributes, the partners' NATS permissions).
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from devstack.cli import APPS
from devstack.partner_nats import partner_permissions
from workflows import search_attributes

REPO = Path(__file__).resolve().parents[3]
KUBE = REPO / "deploy" / "kubernetes"
BASE = KUBE / "base"
PRODUCTION = KUBE / "overlays" / "production"
VALUES = KUBE / "values"
CRDS = Path(__file__).parent / "crds"
# The Kubernetes version the manifests target (kubernetes-validate ships 1.25 … 1.37).
KUBERNETES_VERSION = "1.32.0"
IMAGE = "registry.example.org/entraide/entraide"
GRPC_SERVICES = ("intake", "referral", "reporting")
MIN_REPLICAS = 2

Obj = dict[str, Any]

KUBECTL_MISSING = (
    "kubectl (with its embedded kustomize v5) renders deploy/kubernetes in this test and is not "
    "installed. Install it from the Kubernetes package repository (Debian's own kubernetes-client "
    "is 1.20, too old):\n"
    "  curl -fsSL https://pkgs.k8s.io/core:/stable:/v1.32/deb/Release.key | "
    "sudo gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg\n"
    "  echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] "
    "https://pkgs.k8s.io/core:/stable:/v1.32/deb/ /' | sudo tee /etc/apt/sources.list.d/kubernetes.list\n"
    "  sudo apt-get update && sudo apt-get install -y kubectl\n"
    "or put a kubectl >= 1.27 binary on PATH (https://kubernetes.io/docs/tasks/tools/)."
)


# ------------------------------------------------------------------------------------ rendering


@functools.cache
def kubectl() -> str:
    found = shutil.which("kubectl") or ("/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None)
    if found is None:
        pytest.fail(KUBECTL_MISSING, pytrace=False)
    out = subprocess.run([found, "version", "--client"], capture_output=True, text=True, timeout=60)
    match = re.search(r"Kustomize Version: v(\d+)", out.stdout)
    if match is None or int(match.group(1)) < 5:
        pytest.fail(f"kubectl at {found} has no kustomize v5 ({out.stdout.strip()}).\n{KUBECTL_MISSING}")
    return found


@functools.cache
def render(directory: Path) -> tuple[Obj, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    objects = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
    assert objects, f"kubectl kustomize {directory} rendered nothing"
    return objects


def load(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def of_kind(objects: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def label(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


RENDERED = pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])


# ------------------------------------------------------------------------------- schema checks


def validate_kubernetes(obj: Obj) -> None:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(
            f"{label(obj)} is not a valid Kubernetes {KUBERNETES_VERSION} object at {path}: {exc.message}"
        )
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{label(obj)}: {exc.message}")


@RENDERED
def test_every_rendered_object_validates_against_the_kubernetes_schemas(directory: Path) -> None:
    objects = render(directory)
    for obj in objects:
        validate_kubernetes(obj)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "Job", "ServiceAccount"} <= kinds


@pytest.mark.parametrize("path", [KUBE / "secrets.example.yaml", VALUES / "nats-partner-listener.yaml"])
def test_plain_manifests_validate_against_the_kubernetes_schemas(path: Path) -> None:
    for obj in load(path):
        validate_kubernetes(obj)


def strict_crd_schema(schema: Any) -> Any:
    """A CRD's OpenAPI v3 schema as a JSON Schema that, like the API server with strict field
    validation, refuses unknown fields; `nullable` and int-or-string become JSON Schema types."""
    if isinstance(schema, list):
        return [strict_crd_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_crd_schema(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def crd_validators() -> Mapping[tuple[str, str], jsonschema.protocols.Validator]:
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        crd = json.loads(path.read_text())
        schema = strict_crd_schema(crd["openAPIV3Schema"])
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        cls.check_schema(schema)
        validators[(f"{crd['group']}/{crd['version']}", crd["kind"])] = cls(schema)
    return validators


def test_the_cloudnative_pg_objects_validate_against_their_published_crds() -> None:
    objects = load(VALUES / "cnpg-cluster.yaml")
    for obj in objects:
        validator = crd_validators().get((obj["apiVersion"], obj["kind"]))
        assert validator is not None, f"no vendored CRD schema for {obj['apiVersion']} {obj['kind']}"
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, "\n".join(
            f"{label(obj)} at {'.'.join(str(p) for p in e.path)}: {e.message}" for e in errors
        )
    assert {o["kind"] for o in objects} == {"Cluster", "ScheduledBackup", "Database"}


def test_the_vendored_crd_schemas_catch_a_misspelt_field() -> None:
    cluster = copy.deepcopy(next(o for o in load(VALUES / "cnpg-cluster.yaml") if o["kind"] == "Cluster"))
    cluster["spec"]["postgresql"]["synchronous"]["numbr"] = 1
    validator = crd_validators()[("postgresql.cnpg.io/v1", "Cluster")]
    assert any("numbr" in e.message for e in validator.iter_errors(cluster))


# ------------------------------------------------------------------------------ the processes


def containers(deployment: Obj) -> list[Obj]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def component(deployment: Obj) -> str:
    return str(deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


def selects(selector: Mapping[str, Any], pod_labels: Mapping[str, str]) -> bool:
    """matchLabels (and In / Exists expressions) of a label selector against a pod's labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if pod_labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        if expr["operator"] == "In" and pod_labels.get(expr["key"]) not in expr["values"]:
            return False
        if expr["operator"] == "Exists" and expr["key"] not in pod_labels:
            return False
    return True


@RENDERED
def test_every_entraide_process_has_its_deployment(directory: Path) -> None:
    modules = {
        " ".join(c["command"][-1:]): component(d)
        for d in of_kind(render(directory), "Deployment")
        for c in containers(d)
    }
    # The same processes `make up` supervises (devstack/cli.py APPS), one Deployment each.
    assert set(modules) == {app.module for app in APPS}
    for deployment in of_kind(render(directory), "Deployment"):
        for container in containers(deployment):
            assert container["command"][:2] == ["python", "-m"], label(deployment)


@RENDERED
def test_every_deployment_has_replicas_probes_resources_and_a_locked_down_pod(directory: Path) -> None:
    objects = render(directory)
    accounts = {o["metadata"]["name"]: o for o in of_kind(objects, "ServiceAccount")}
    for deployment in of_kind(objects, "Deployment"):
        name = label(deployment)
        assert deployment["spec"]["replicas"] >= MIN_REPLICAS, name
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(deployment):
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name}: no {probe}"
            if component(deployment) in GRPC_SERVICES:
                # The native gRPC probe on the standard grpc.health.v1 service (kernel.grpc_server).
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    assert container[probe]["grpc"]["port"] == port_of(container, "grpc"), name
            if component(deployment) == "console":
                assert container["readinessProbe"]["httpGet"]["path"] == "/sante", name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name}: {kind}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert container["image"].startswith(f"{IMAGE}:"), name


def port_of(container: Obj, name: str) -> int:
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == name))


@RENDERED
def test_every_deployment_has_a_pdb_a_service_and_a_network_policy(directory: Path) -> None:
    objects = render(directory)
    policies = [p for p in of_kind(objects, "NetworkPolicy") if p["spec"]["podSelector"]]
    for deployment in of_kind(objects, "Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = label(deployment)
        pdbs = [
            p for p in of_kind(objects, "PodDisruptionBudget") if selects(p["spec"]["selector"], pod_labels)
        ]
        assert len(pdbs) == 1, f"{name}: {len(pdbs)} PodDisruptionBudgets select it"
        budget = pdbs[0]["spec"]
        assert budget.get("maxUnavailable") == 1 or budget.get("minAvailable") == 1, name
        services = [
            s
            for s in of_kind(objects, "Service")
            if selects({"matchLabels": s["spec"]["selector"]}, pod_labels)
        ]
        assert services, f"{name}: no Service selects it"
        own = [p for p in policies if selects(p["spec"]["podSelector"], pod_labels)]
        assert own, f"{name}: no NetworkPolicy of its own selects it"
        assert all(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in own), name


@RENDERED
def test_the_namespace_denies_by_default_and_partners_reach_only_the_console(directory: Path) -> None:
    objects = render(directory)
    deny = named(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    reachable_from_outside = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                selector = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if "ipBlock" in peer or selector.get("kubernetes.io/metadata.name") == "ingress-nginx":
                    reachable_from_outside.add(
                        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    )
    # The console for agents and partners; the codec server for ops' browsers (Temporal UI).
    assert reachable_from_outside == {"console", "codec"}
    ingress_backends = {
        path["backend"]["service"]["name"]
        for ingress in of_kind(objects, "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert ingress_backends == {"entraide-console", "entraide-codec"}
    # gRPC services take calls from the console only.
    for name in GRPC_SERVICES:
        policy = named(objects, "NetworkPolicy", f"entraide-{name}")
        grpc_rules = [
            r
            for r in policy["spec"]["ingress"]
            if any(p["port"] < 9000 or p["port"] > 9500 for p in r["ports"])
        ]
        peers = [peer for rule in grpc_rules for peer in rule["from"]]
        assert peers == [
            {
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "entraide",
                        "app.kubernetes.io/component": "console",
                    }
                }
            }
        ]


EGRESS_PORTS = {
    "intake": {53, 5432, 4222, 7233, 443, 587, 465},
    "referral": {53, 5432, 4222, 7233, 443},
    "reporting": {53, 5432, 4222, 7233},
    "workflows": {53, 7233},
    "codec": {53},
    "console": {53, 5432, 443, 50051, 50052, 50053},
    "migrations": {53, 5432},
    "search-attributes": {53, 7233},
}


@RENDERED
def test_each_process_reaches_only_what_it_needs(directory: Path) -> None:
    objects = render(directory)
    policies = of_kind(objects, "NetworkPolicy")
    workloads = [*of_kind(objects, "Deployment"), *of_kind(objects, "Job")]
    assert {component(w) for w in workloads} == set(EGRESS_PORTS)
    for workload in workloads:
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        ports = {
            port["port"]
            for policy in policies
            if selects(policy["spec"]["podSelector"], pod_labels)
            for rule in policy["spec"].get("egress", [])
            for port in rule["ports"]
        }
        assert ports == EGRESS_PORTS[component(workload)], label(workload)


# ------------------------------------------------------------------------- configuration, secrets

SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEYS?$|_KEY_ID$|DATABASE_URL$|NATS_URL$")
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def env_vars(objects: tuple[Obj, ...]) -> Iterator[tuple[str, Obj]]:
    for workload in [*of_kind(objects, "Deployment"), *of_kind(objects, "Job")]:
        for container in containers(workload):
            for var in container.get("env", []):
                yield label(workload), var


@RENDERED
def test_no_secret_is_in_a_config_map_or_a_plain_env_value(directory: Path) -> None:
    objects = render(directory)
    for config_map in of_kind(objects, "ConfigMap"):
        for key, value in config_map.get("data", {}).items():
            assert not SECRET_NAME.search(key), f"{label(config_map)}: {key} belongs in a Secret"
            assert not CREDENTIALS_IN_URL.search(str(value)), f"{label(config_map)}: {key} holds credentials"
    for workload, var in env_vars(objects):
        if SECRET_NAME.search(var["name"]):
            assert "secretKeyRef" in var.get("valueFrom", {}), (
                f"{workload}: {var['name']} must come from a Secret"
            )
    assert not of_kind(objects, "Secret"), "Secrets are the operator's: none is rendered"


@RENDERED
def test_every_secret_reference_is_listed_in_the_example_with_a_placeholder(directory: Path) -> None:
    examples = {s["metadata"]["name"]: s["stringData"] for s in load(KUBE / "secrets.example.yaml")}
    for values in examples.values():
        for key, value in values.items():
            assert "REPLACE_ME" in value, f"secrets.example.yaml: {key} is not marked as a placeholder"
    for workload, var in env_vars(render(directory)):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["key"] in examples.get(ref["name"], {}), (
                f"{workload}: {ref['name']}/{ref['key']} undocumented"
            )
    for deployment in of_kind(render(directory), "Deployment"):
        for container in containers(deployment):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in examples, label(deployment)


@RENDERED
def test_ports_and_addresses_agree_with_the_config_map(directory: Path) -> None:
    objects = render(directory)
    config = named(objects, "ConfigMap", "entraide-config")["data"]
    for name in GRPC_SERVICES:
        deployment = named(objects, "Deployment", f"entraide-{name}")
        port = port_of(containers(deployment)[0], "grpc")
        assert int(config[f"ENTRAIDE_{name.upper()}_PORT"]) == port
        assert config[f"ENTRAIDE_{name.upper()}_ADDR"] == f"entraide-{name}:{port}"
        service = named(objects, "Service", f"entraide-{name}")
        assert {"name": "grpc", "port": port}.items() <= next(
            p for p in service["spec"]["ports"] if p["name"] == "grpc"
        ).items()
    for name in ("intake", "referral", "reporting", "workflows"):
        deployment = named(objects, "Deployment", f"entraide-{name}")
        assert int(config[f"ENTRAIDE_{name.upper()}_METRICS_PORT"]) == port_of(
            containers(deployment)[0], "metrics"
        )
    console = containers(named(objects, "Deployment", "entraide-console"))[0]
    assert int(config["ENTRAIDE_CONSOLE_PORT"]) == port_of(console, "http")
    codec = containers(named(objects, "Deployment", "entraide-codec"))[0]
    assert int(config["ENTRAIDE_CODEC_PORT"]) == port_of(codec, "http")
    for host in (
        "ENTRAIDE_GRPC_HOST",
        "ENTRAIDE_METRICS_HOST",
        "ENTRAIDE_CONSOLE_HOST",
        "ENTRAIDE_CODEC_HOST",
    ):
        assert config[host] == "0.0.0.0", host
    assert "ENTRAIDE_CONSOLE_DEV_SIGN_IN" not in config


# ---------------------------------------------------------------------------------------- Jobs


def hooked_before_rollout(job: Obj) -> bool:
    return job["metadata"]["annotations"].get("argocd.argoproj.io/hook") == "PreSync"


@RENDERED
def test_the_migrations_and_search_attributes_jobs_run_before_the_rollout(directory: Path) -> None:
    objects = render(directory)
    migrations = named(objects, "Job", "entraide-migrations")
    assert containers(migrations)[0]["command"] == ["python", "-m", "services.migrate"]
    assert importlib.util.find_spec("services.migrate") is not None
    env = {v["name"] for v in containers(migrations)[0]["env"]}
    assert "ENTRAIDE_MIGRATION_DATABASE_URL" in env
    registration = named(objects, "Job", "entraide-search-attributes")
    assert "search_attributes.register" in containers(registration)[0]["command"][-1]
    compile(containers(registration)[0]["command"][-1], label(registration), "exec")
    for job in (migrations, registration):
        assert hooked_before_rollout(job), label(job)
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    waves = {
        j["metadata"]["name"]: int(j["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for j in (migrations, registration)
    }
    assert waves["entraide-migrations"] < waves["entraide-search-attributes"] < 0


# ------------------------------------------------------------------------------------ production


def test_production_scales_out_and_pins_its_image() -> None:
    objects = render(PRODUCTION)
    base = {label(d): d["spec"]["replicas"] for d in of_kind(render(BASE), "Deployment")}
    for deployment in of_kind(objects, "Deployment"):
        assert deployment["spec"]["replicas"] >= max(MIN_REPLICAS, base[label(deployment)]), label(deployment)
        for container in containers(deployment):
            assert not container["image"].endswith(":latest"), label(deployment)
    config = named(objects, "ConfigMap", "entraide-config")["data"]
    assert config["ENTRAIDE_STREAM_REPLICAS"] == "3"
    assert named(render(BASE), "ConfigMap", "entraide-config")["data"]["ENTRAIDE_STREAM_REPLICAS"] == "1"
    assert config["ENTRAIDE_CONSOLE_URL"].startswith("https://")
    hosts = {rule["host"] for ingress in of_kind(objects, "Ingress") for rule in ingress["spec"]["rules"]}
    assert not any(host.endswith("example.org") for host in hosts)


# ------------------------------------------------------------------------------- values files


def test_nats_values_make_a_synced_three_node_jetstream_cluster() -> None:
    values = yaml.safe_load((VALUES / "nats.yaml").read_text())
    config = values["config"]
    assert config["cluster"] == {"enabled": True, "replicas": 3} | config["cluster"]
    assert config["cluster"]["replicas"] == 3
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True and jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["memoryStore"]["enabled"] is False
    assert jetstream["merge"]["sync_interval"] == "always"
    assert values["podDisruptionBudget"]["enabled"] is True


def test_nats_partner_accounts_see_only_their_own_consumer() -> None:
    values = yaml.safe_load((VALUES / "nats.yaml").read_text())
    accounts = values["config"]["merge"]["accounts"]
    assert accounts["ENTRAIDE"]["jetstream"] == "enabled"
    env = values["container"]["env"]
    partners = {name: account for name, account in accounts.items() if name.startswith("PARTNER_")}
    assert partners, "no partner account"
    exports = accounts["ENTRAIDE"]["exports"]
    for account_name, account in partners.items():
        assert "jetstream" not in account, account_name
        assert "exports" not in account, account_name
        (user,) = account["users"]
        partner_id = user["user"]
        password_var = re.fullmatch(r"<< \$(\w+) >>", user["password"])
        assert password_var is not None, f"{account_name}: the password must come from the environment"
        assert "secretKeyRef" in env[password_var.group(1)]["valueFrom"], account_name
        imported = {i["service"]["subject"] for i in account["imports"]}
        assert {i["service"]["account"] for i in account["imports"]} == {"ENTRAIDE"}
        # Exactly what devstack/partner_nats.py allows a partner's user today.
        allowed = set(partner_permissions(partner_id)["publish"]["allow"])
        assert imported == allowed, account_name
        exported_to_it = {e["service"] for e in exports if account_name in e["accounts"]}
        assert exported_to_it == allowed, account_name
    for export in exports:
        # An export names one partner's account, and only subjects carrying that partner's id.
        (account_name,) = export["accounts"]
        partner_id = partners[account_name]["users"][0]["user"]
        assert f".PARTNERS.{partner_id}" in export["service"], export
    for account in accounts.values():
        for user in account["users"]:
            assert user["password"].startswith("<< $"), "passwords come from the nats-accounts Secret"


def test_the_partner_listener_exposes_the_client_port_only() -> None:
    objects = load(VALUES / "nats-partner-listener.yaml")
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert [p["port"] for p in service["spec"]["ports"]] == [4222]
    assert service["spec"]["loadBalancerSourceRanges"]
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    for rule in policy["spec"]["ingress"]:
        if any("ipBlock" in peer for peer in rule["from"]):
            assert [p["port"] for p in rule["ports"]] == [4222]


def render_temporal_extra_objects(values: Obj) -> list[Obj]:
    """The chart's extraObjects, with the few template expressions they use filled in."""
    substitutions = {
        r'{{ include "temporal.fullname" $ }}': "temporal",
        r"{{ $.Release.Namespace }}": "temporal",
        r'{{ include "temporal.frontendAddress" $ }}': "temporal-frontend:7233",
        r"{{ $.Values.admintools.image.repository }}": "temporalio/admin-tools",
        r"{{ $.Values.admintools.image.tag }}": "1.31.2",
    }
    objects = []
    for text in values["extraObjects"]:
        for expression, value in substitutions.items():
            text = text.replace(expression, value)
        assert "{{" not in text, f"an unexpected template expression in extraObjects: {text}"
        objects.append(yaml.safe_load(text))
    return objects


def test_temporal_values_use_postgresql_and_register_the_search_attributes() -> None:
    values = yaml.safe_load((VALUES / "temporal.yaml").read_text())
    persistence = values["server"]["config"]["persistence"]
    assert (persistence["defaultStore"], persistence["visibilityStore"]) == ("default", "visibility")
    for store in ("default", "visibility"):
        sql = persistence["datastores"][store]["sql"]
        assert sql["pluginName"] == "postgres12", store
        assert sql["existingSecret"] and "password" not in sql, store
        assert sql["connectAddr"].startswith("entraide-db-rw.entraide-db.svc:"), store
    for service in ("frontend", "history", "matching", "worker"):
        assert values["server"][service]["replicaCount"] >= MIN_REPLICAS, service
        assert values["server"][service]["podDisruptionBudget"], service
    (job,) = render_temporal_extra_objects(values)
    validate_kubernetes(job)
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    expected = {f"{key.name}:{search_attributes.type_name(key)}" for key in search_attributes.ALL}
    listed = set(re.search(r"for pair in ([^;]+);", script).group(1).split())  # type: ignore[union-attr]
    assert listed == expected


def test_the_cnpg_cluster_is_replicated_synchronously_and_backed_up() -> None:
    objects = load(VALUES / "cnpg-cluster.yaml")
    (cluster,) = [o for o in objects if o["kind"] == "Cluster"]
    spec = cluster["spec"]
    assert spec["instances"] == 3
    synchronous = spec["postgresql"]["synchronous"]
    assert synchronous["method"] in ("any", "first") and synchronous["number"] >= 1
    assert synchronous.get("dataDurability", "required") == "required"
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://") and store["s3Credentials"]
    assert spec["backup"]["retentionPolicy"]
    (scheduled,) = [o for o in objects if o["kind"] == "ScheduledBackup"]
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert scheduled["spec"]["method"] == "barmanObjectStore"
    # CloudNativePG's schedule has six fields (seconds first).
    assert len(scheduled["spec"]["schedule"].split()) == 6
    databases = {o["spec"]["name"] for o in objects if o["kind"] == "Database"}
    temporal = yaml.safe_load((VALUES / "temporal.yaml").read_text())["server"]["config"]["persistence"]
    assert {temporal["datastores"][s]["sql"]["databaseName"] for s in ("default", "visibility")} <= databases


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = copy.deepcopy(of_kind(render(BASE), "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpcc"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="grpcc"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("job", ["entraide-migrations", "entraide-search-attributes"])
def test_the_jobs_scripts_import_what_exists(job: str) -> None:
    script = containers(named(render(BASE), "Job", job))[0]["command"][-1]
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    importlib.import_module(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)


PROCESSES = ("intake", "referral", "reporting", "workflows", "codec", "console")


def test_the_first_apply_of_plain_kubectl_holds_what_the_jobs_need_and_no_process() -> None:
    # docs/deploy-kubernetes.md: `kubectl apply -l 'app.kubernetes.io/component notin (…)'` first,
    # wait for the Jobs, then apply everything.
    first = [
        o
        for o in render(PRODUCTION)
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") not in PROCESSES
    ]
    names = {label(o) for o in first}
    assert {
        "Namespace/entraide",
        "ConfigMap/entraide-config",
        "NetworkPolicy/default-deny",
        "NetworkPolicy/allow-dns",
        "Job/entraide-migrations",
        "ServiceAccount/entraide-migrations",
        "NetworkPolicy/entraide-migrations",
        "Job/entraide-search-attributes",
        "ServiceAccount/entraide-search-attributes",
        "NetworkPolicy/entraide-search-attributes",
    } == names
