"""Checks infra/template.yaml against the code it deploys.

Run by scripts/check-infra with the .venv-sam interpreter (samtranslator and cfn-lint come with
aws-sam-cli). `sam validate --lint` checks the SAM source; this adds what it cannot know:

- the template deploys exactly the nine function crates, built by cargo-lambda from the
  workspace root (once the crates exist, each must be a workspace package with a binary of the
  same name);
- the table, queue and retry settings are the ones the Rust code documents (schema.rs,
  sqs/admin.rs, schedule.rs);
- routes (the route table of pgm-api, printed by `pgm-ops routes`), authorization, the
  notifier's event source and the per-function permissions;
- the SAM transform itself succeeds for every ApiAuth value (cfn-lint no longer runs it), and
  cfn-lint accepts the CloudFormation it produces (IAM actions, ARNs, references).

Exit status 1 with one line per problem, 0 with a summary.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "infra" / "template.yaml"

FUNCTIONS = ["pay", "refund", "confirm", "callback", "check", "status", "session", "notifier", "reconciler"]
# Every provider of docs/api.md gets a callback URL output.
PROVIDERS = ["sandbox", "gestpay", "satispay", "unicredit", "braintree", "scalapay", "safecharge",
             "soisy", "stripe", "bpc", "paymentz"]
PROVIDER_VAR_PREFIXES = (
    "SANDBOX_", "STRIPE_", "SATISPAY_", "GESTPAY_", "SCALAPAY_", "BPC_", "PAYMENTZ_", "UNICREDIT_",
    "SOISY_", "SAFECHARGE_", "BRAINTREE_",
)


@functools.cache
def route_table() -> list[dict]:
    """pgm-api's route table, as `pgm-ops routes` prints it."""
    return json.loads(subprocess.run(
        ["cargo", "run", "--quiet", "-p", "pgm-ops", "--", "routes"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)


def api_routes() -> tuple[dict[str, str], dict[str, str]]:
    """The HTTP API's routes from pgm-api's route table (`pgm-ops routes`), as route key ->
    integration: (behind the authorizer, public). The callback function is not behind the HTTP
    API: providers reach it on its Function URL."""
    authorized, public = {}, {}
    for route in route_table():
        if route["function"] == "callback":
            continue
        key = f"{route['method']} {route['path']}"
        (public if route["public"] else authorized)[key] = f"{route['function'].capitalize()}Integration"
    return authorized, public


AUTHORIZED_ROUTES, PUBLIC_ROUTES = api_routes()
ROUTE_AUTH = {"Fn::If": ["UseJwt", "JWT", {"Fn::If": ["UseIam", "AWS_IAM", "NONE"]}]}
NO_VALUE = {"Ref": "AWS::NoValue"}

problems: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


def expect(actual, wanted, what: str) -> None:
    if actual != wanted:
        problem(f"{what}: {actual!r}, expected {wanted!r}")


def rust_const(path: Path, name: str) -> int:
    """Value of `const NAME: u32 = <expr>;` where expr multiplies integers and earlier consts."""
    text = path.read_text()
    match = re.search(rf"const {name}: \w+ = ([^;]+);", text)
    if not match:
        raise SystemExit(f"check_template: {name} not found in {path}")
    value = 1
    for factor in (f.strip() for f in match.group(1).split("*")):
        value *= int(factor.replace("_", "")) if re.fullmatch(r"[\d_]+", factor) else rust_const(path, factor)
    return value


# Crates under functions/ that are tools, not Lambda functions.
NOT_LAMBDAS = {"pgm-local", "pgm-ops"}


def workspace_binaries() -> tuple[dict[str, set[str]], dict[str, Path]]:
    """Workspace packages named pgm-* under functions/ (the tools that are not Lambdas aside:
    pgm-local and pgm-ops): their binaries and directories."""
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    bins, dirs = {}, {}
    for package in metadata["packages"]:
        manifest = Path(package["manifest_path"]).resolve()
        if manifest.parent.parent != ROOT / "functions" or package["name"] in NOT_LAMBDAS:
            continue
        bins[package["name"]] = {t["name"] for t in package["targets"] if "bin" in t["kind"]}
        dirs[package["name"]] = manifest.parent
    return bins, dirs


def check_functions(template: dict) -> None:
    resources = template["Resources"]
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    binaries = []
    for logical_id, function in functions.items():
        metadata = function.get("Metadata", {})
        expect(metadata.get("BuildMethod"), "rust-cargolambda", f"{logical_id} Metadata.BuildMethod")
        binary = metadata.get("BuildProperties", {}).get("Binary")
        binaries.append(binary)
        # Per function: `sam package` keeps a Globals CodeUri beside the built ones.
        code_uri = function["Properties"].get("CodeUri")
        if not isinstance(code_uri, str) or not (TEMPLATE.parent / code_uri / "Cargo.toml").is_file():
            problem(f"{logical_id} CodeUri {code_uri!r} is not the workspace root")
        elif (TEMPLATE.parent / code_uri).resolve() != ROOT:
            problem(f"{logical_id} CodeUri {code_uri!r} is not the workspace root")
    for key, wanted in {"Runtime": "provided.al2023", "Architectures": ["arm64"], "Handler": "bootstrap"}.items():
        expect(globals_.get(key), wanted, f"Globals.Function.{key}")
    wanted = {f"pgm-{name}" for name in FUNCTIONS}
    expect(sorted(binaries, key=str), sorted(wanted), "binaries the template deploys")

    bins, dirs = workspace_binaries()
    for manifest in sorted((ROOT / "functions").glob("*/Cargo.toml")):
        if manifest.parent not in dirs.values() and f"pgm-{manifest.parent.name}" not in NOT_LAMBDAS:
            problem(f"{manifest.parent.relative_to(ROOT)} is not a workspace member")
    if not bins:
        print("check_template: no function crate under functions/ yet; checked the template alone")
        return
    expect(sorted(bins), sorted(wanted), "function packages under functions/")
    for package, package_bins in bins.items():
        if package not in package_bins:
            problem(f"{package} has no binary named {package} (it has {sorted(package_bins)})")
        if dirs[package].name != package.removeprefix("pgm-"):
            problem(f"{package} lives in {dirs[package].relative_to(ROOT)}, expected functions/{package.removeprefix('pgm-')}")


def check_table(template: dict) -> None:
    schema_rs = ROOT / "shared/store/src/dynamodb/schema.rs"
    doc = "\n".join(line[4:] if line.startswith("//! ") else line[3:]
                    for line in schema_rs.read_text().splitlines() if line.startswith("//!"))
    block = re.search(r"```yaml\n(.*?)```", doc, re.S)
    if not block:
        raise SystemExit(f"check_template: no ```yaml block in {schema_rs}")
    documented = yaml.safe_load(block.group(1))["Table"]
    table = template["Resources"]["Table"]
    expect(table["Type"], documented["Type"], "Table type")
    for key, value in documented["Properties"].items():
        expect(table["Properties"].get(key), value, f"Table.Properties.{key} (schema.rs)")


def check_queues(template: dict) -> None:
    admin_rs = ROOT / "shared/notify/src/sqs/admin.rs"
    schedule_rs = ROOT / "shared/notify/src/schedule.rs"
    resources = template["Resources"]
    parameters = template["Parameters"]
    queue = resources["NotificationQueue"]["Properties"]
    dlq = resources["NotificationDlq"]["Properties"]
    notifier = resources["NotifierFunction"]["Properties"]
    expect(notifier.get("Timeout"), rust_const(admin_rs, "NOTIFIER_TIMEOUT_SECS"), "notifier Timeout")
    expect(queue.get("VisibilityTimeout"), rust_const(admin_rs, "VISIBILITY_TIMEOUT_SECS"),
           "queue VisibilityTimeout")
    retention = rust_const(admin_rs, "MESSAGE_RETENTION_SECS")
    expect(queue.get("MessageRetentionPeriod"), retention, "queue MessageRetentionPeriod")
    expect(dlq.get("MessageRetentionPeriod"), retention, "DLQ MessageRetentionPeriod")
    expect(queue.get("RedrivePolicy"), {"deadLetterTargetArn": {"Fn::GetAtt": ["NotificationDlq", "Arn"]},
                                        "maxReceiveCount": {"Ref": "NotifyMaxReceiveCount"}},
           "queue RedrivePolicy")

    # The default schedule is RetrySchedule::default(), and maxReceiveCount its max_attempts().
    minutes = re.search(r"let minutes = \[([^\]]*)\]", schedule_rs.read_text())
    rust_minutes = [int(m) for m in minutes.group(1).split(",")]
    unit = {"m": 1, "h": 60, "d": 1440}
    default = parameters["NotifyRetrySchedule"]["Default"]
    template_minutes = [int(d[:-1]) * unit[d[-1]] for d in default.split(",")]
    expect(template_minutes, rust_minutes, "NotifyRetrySchedule default (minutes) vs RetrySchedule::default")
    expect(parameters["NotifyMaxReceiveCount"]["Default"], len(rust_minutes) + 1,
           "NotifyMaxReceiveCount default vs RetrySchedule::default().max_attempts()")
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    expect(env.get("PGM_NOTIFY_RETRY_SCHEDULE"), {"Ref": "NotifyRetrySchedule"}, "PGM_NOTIFY_RETRY_SCHEDULE")

    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    expect(mappings, [{"FunctionName": {"Ref": "NotifierFunction"},
                       "EventSourceArn": {"Fn::GetAtt": ["NotificationQueue", "Arn"]},
                       "BatchSize": 10,
                       "FunctionResponseTypes": ["ReportBatchItemFailures"]}],
           "event source mappings")


def check_environment(template: dict) -> None:
    global_env = template["Globals"]["Function"]["Environment"]["Variables"]
    provider_vars = [k for k in global_env if k.startswith(PROVIDER_VAR_PREFIXES)]
    resources = template["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        env = resource["Properties"].get("Environment", {}).get("Variables", {})
        if logical_id == "NotifierFunction":
            kept = [v for v in provider_vars if env.get(v) != NO_VALUE]
            if kept:
                problem(f"the notifier keeps provider settings {kept} (override them with AWS::NoValue)")
            if "PGM_PUBLIC_URL" in env:
                problem("the notifier needs no PGM_PUBLIC_URL")
        elif env.get("PGM_PUBLIC_URL") != {"Ref": "PublicUrl"}:
            # From configuration only: a URL built from a request's Host header could send
            # the sandbox's signed callbacks, or a buyer, to a host the caller chose.
            problem(f"{logical_id}: PGM_PUBLIC_URL must be the PublicUrl parameter")
    public_url = template["Parameters"]["PublicUrl"]
    if "Default" in public_url:
        problem("the PublicUrl parameter must have no default (deploys must set it)")
    if re.fullmatch(public_url.get("AllowedPattern", ""), ""):
        problem("the PublicUrl parameter's pattern must refuse an empty value")
        if logical_id != "NotifierFunction" and "PAYMENT_CALLBACK_SECRET" in env:
            problem(f"{logical_id} needs no PAYMENT_CALLBACK_SECRET")


def check_routes(template: dict) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in template["Resources"].values()
              if r["Type"] == "AWS::ApiGatewayV2::Route"}
    expect(sorted(routes), sorted({**AUTHORIZED_ROUTES, **PUBLIC_ROUTES}), "HTTP API routes")
    for key, integration in {**AUTHORIZED_ROUTES, **PUBLIC_ROUTES}.items():
        route = routes.get(key)
        if route is None:
            continue
        expect(route.get("Target"), {"Fn::Sub": f"integrations/${{{integration}}}"}, f"{key} target")
        auth = ROUTE_AUTH if key in AUTHORIZED_ROUTES else "NONE"
        expect(route.get("AuthorizationType"), auth, f"{key} AuthorizationType")


def check_watch_router() -> None:
    """`cargo lambda watch`'s router (Cargo.toml) sends every route of the table to its function;
    a `{name}` segment matches any segment (the watch router writes `session/{operation}`), and
    as in matchit-style routers a literal segment wins over a parameter, from left to right
    (`/{provider}/session/{operation}` over `/{provider}/{method}/confirm`)."""
    watch = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]

    def fits(pattern: str, path: str) -> bool:
        a, b = pattern.split("/"), path.split("/")
        return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b))

    def literal_segments(pattern: str) -> tuple[bool, ...]:
        return tuple(not segment.startswith("{") for segment in pattern.split("/"))

    for route in route_table():
        fitting = [p for p, entries in watch.items() if fits(p, route["path"])
                   and any(entry["method"] == route["method"] for entry in entries)]
        best = max(map(literal_segments, fitting), default=())
        targets = {entry["function"] for pattern in fitting if literal_segments(pattern) == best
                   for entry in watch[pattern] if entry["method"] == route["method"]}
        expect(sorted(targets), [f"pgm-{route['function']}"],
               f"Cargo.toml watch router for {route['method']} {route['path']}")


def check_outputs(template: dict) -> None:
    outputs = template["Outputs"]
    for provider in PROVIDERS:
        name = f"{provider.capitalize()}CallbackUrl"
        expect(outputs.get(name, {}).get("Value"),
               {"Fn::Sub": [f"${{Url}}{provider}/callback", {"Url": {"Fn::GetAtt": ["CallbackFunctionUrl", "FunctionUrl"]}}]},
               f"output {name}")
    for name in ["ApiUrl", "CallbackBaseUrl"]:
        if name not in outputs:
            problem(f"output {name} is missing")


class _NoManagedPolicies:
    def load(self) -> dict:
        return {}


def translated(template: dict, parameters: dict) -> dict | None:
    source = copy.deepcopy(template)
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # `sam package` puts an S3 location here; the transform accepts nothing else.
            resource["Properties"]["CodeUri"] = "s3://pgm-check/function.zip"
    try:
        return transform(source, {"AWS::Region": "eu-west-1", "AWS::Partition": "aws", **parameters},
                         _NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            problem(f"SAM transform ({parameters}): {cause.message}")
        return None


def role_actions(cfn: dict, function: str) -> tuple[set[str], list[str]]:
    role = cfn["Resources"][f"{function}Role"]["Properties"]
    actions: set[str] = set()
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions, role.get("ManagedPolicyArns", [])


def check_translation(template: dict) -> None:
    lint = Path(sys.executable).parent / "cfn-lint"
    for auth, extra in [("IAM", {}), ("JWT", {"JwtIssuer": "https://issuer.example", "JwtAudience": "pgm"}),
                        ("NONE", {})]:
        cfn = translated(template, {"ApiAuth": auth, "PublicUrl": "https://pgm.example", **extra})
        if cfn is None:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
            json.dump(cfn, out)
        result = subprocess.run([str(lint), "--regions", "eu-west-1", "--", out.name],
                                capture_output=True, text=True)
        Path(out.name).unlink()
        if result.returncode != 0:
            problem(f"cfn-lint on the transformed template (ApiAuth={auth}):\n{result.stdout}{result.stderr}")
        if auth != "IAM":
            continue
        for function in FUNCTIONS:
            logical_id = f"{function.capitalize()}Function"
            actions, managed = role_actions(cfn, logical_id)
            dynamo = {a for a in actions if a.startswith("dynamodb:")}
            if function == "notifier":
                expect(sorted(dynamo), [], "notifier DynamoDB actions")
            if any(a.endswith("*") and not a.startswith("sqs:SendMessage") for a in actions):
                problem(f"{logical_id} has a wildcard action: {sorted(actions)}")
            if ("dynamodb:Query" in dynamo) != (function == "reconciler"):
                problem(f"{logical_id}: only the reconciler may query the index ({sorted(dynamo)})")
            if any("SQSQueueExecutionRole" in str(arn) for arn in managed):
                problem(f"{logical_id} has AWSLambdaSQSQueueExecutionRole (receive/delete on every queue)")


def main() -> int:
    # The translator's metrics are never published here; its warning about that is noise.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    template = yaml_parse(TEMPLATE.read_text())
    check_functions(template)
    check_table(template)
    check_queues(template)
    check_environment(template)
    check_routes(template)
    check_watch_router()
    check_outputs(template)
    check_translation(template)
    if problems:
        for p in problems:
            print(f"check_template: {p}", file=sys.stderr)
        return 1
    print(f"check_template: {TEMPLATE.relative_to(ROOT)} OK ({len(FUNCTIONS)} functions, "
          f"{len(AUTHORIZED_ROUTES) + len(PUBLIC_ROUTES)} routes, transform and cfn-lint clean for ApiAuth=IAM|JWT|NONE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
