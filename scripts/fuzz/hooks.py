"""Schemathesis hooks for scripts/fuzz-api: steer part of the generated requests to what the
sandbox knows, so that fuzzing gets past "unknown payment" and "bad signature" into the code
that moves money.

- pay: most requests carry one of the sandbox's test tokens (an unknown token is only a KO);
  some ask for a manual capture, so that /confirm has authorisations to capture.
- confirm, refund, status, check, the session routes and the 3DS page: most requests name a
  payment (or session) an earlier answer created.
- callback: most requests carry a sandbox callback about a known charge, signed with the
  sandbox's webhook secret as the sandbox signs it; the rest stay as generated (unsigned).

The choices come from a generator seeded with PGM_FUZZ_SEED (the run's seed), so a run with
one worker replays the same way.
"""

import hashlib
import hmac
import json
import os
import random
import time
import urllib.parse

import schemathesis

SECRET = os.environ["PGM_FUZZ_SANDBOX_SECRET"].encode()
rng = random.Random(int(os.environ["PGM_FUZZ_SEED"]))

TOKENS = ["tok_ok", "tok_ok", "tok_ko", "tok_3ds", "tok_pending", "tok_unavailable"]
CHARGE_STATUSES = ["AWAITING_BUYER", "PROCESSING", "AUTHORIZED", "CAPTURED", "DECLINED", "VOIDED"]
ID_ALIASES = ["shopTransactionID", "shopTransactionId", "paymentID", "paymentId"]

# What earlier answers created: (paymentID, shopTransactionID) and session tokens.
payments = []
sessions = []


def sign(message: bytes, t: int) -> str:
    return hmac.new(SECRET, f"{t}.".encode() + message, hashlib.sha256).hexdigest()


def known_payment():
    return rng.choice(payments) if payments and rng.random() < 0.7 else None


def name_payment(container: dict, id_names):
    """Replaces whatever id the generator put in with a known payment's, by one of its names."""
    known = known_payment()
    if known is None:
        return
    for name in ID_ALIASES:
        container.pop(name, None)
    payment_id, shop_transaction_id = known
    name = rng.choice(id_names)
    container[name] = payment_id if name.lower() == "paymentid" else shop_transaction_id


def sandbox_callback_body():
    payment_id, reference = rng.choice(payments) if payments else ("sbx_unknown", "unknown")
    body = {"chargeId": payment_id, "reference": reference, "status": rng.choice(CHARGE_STATUSES)}
    if rng.random() < 0.1:
        body.pop(rng.choice(list(body)))
    return body


@schemathesis.hook
def before_call(ctx, case, kwargs):
    path, method = case.operation.path, case.operation.method.upper()
    body = case.body if isinstance(case.body, dict) else None

    if path in ("/{provider}/{method}/pay", "/{provider}/{method}/pay/recurrent"):
        if body is not None and rng.random() < 0.8:
            body["creditCardToken"] = rng.choice(TOKENS)
            if rng.random() < 0.25:
                body["providerData"] = {"captureMethod": "manual"}
    elif path in ("/{provider}/{method}/confirm", "/{provider}/{method}/refund"):
        if body is not None:
            name_payment(body, ID_ALIASES)
    elif path in ("/{provider}/status", "/{provider}/check"):
        if isinstance(case.query, dict):
            name_payment(case.query, ["shopTransactionId", "paymentId", "shopTransactionID", "paymentID"])
    elif path.startswith("/{provider}/session/") and path != "/{provider}/session/open":
        if body is not None and sessions and rng.random() < 0.7:
            body["sessionToken"] = rng.choice(sessions)
    elif path == "/sandbox/3ds/{chargeId}":
        known = known_payment()
        if known is not None:
            case.path_parameters["chargeId"] = known[0]
    elif path == "/{provider}/callback" and case.path_parameters.get("provider") == "sandbox":
        if rng.random() < 0.8:
            t = int(time.time())
            if method == "POST":
                raw = json.dumps(sandbox_callback_body()).encode()
                case.body = raw
                case.media_type = "application/json"
                case.headers = {**(case.headers or {}), "Sandbox-Signature": f"t={t},v1={sign(raw, t)}"}
            else:
                query = {**sandbox_callback_body(), "t": str(t)}
                # Signed as it goes on the wire: percent-encoded the way the client encodes it.
                signed = urllib.parse.urlencode(query)
                query["v1"] = sign(signed.encode(), t)
                case.query = query


@schemathesis.hook
def after_call(ctx, case, response):
    if response.status_code != 200 or not isinstance(case.body, dict):
        return
    try:
        answer = response.json()
    except ValueError:
        return
    path = case.operation.path
    if path in ("/{provider}/{method}/pay", "/{provider}/{method}/pay/recurrent"):
        payment_id = answer.get("paymentID")
        shop_transaction_id = case.body.get("shopTransactionID") or case.body.get("shopTransactionId")
        if isinstance(payment_id, str) and isinstance(shop_transaction_id, str):
            payments.append((payment_id, shop_transaction_id))
    elif path == "/{provider}/session/open" and isinstance(answer.get("sessionToken"), str):
        sessions.append(answer["sessionToken"])
