"""Drives the Stripe mock (pgm-mocks) with Stripe's official Python SDK, as a real client would.

If the SDK can parse what the mock answers (objects, lists, errors, webhook signatures), the mock
speaks Stripe's wire format; our own adapter agreeing with the mock proves nothing about that.

The buyer's part (paying on the hosted page) has no API in Stripe, so it is played by the Rust
test between two runs of this script, which share a JSON state file:

    stripe_sdk.py create --api-base URL --api-key KEY --state FILE
        creates the sessions, writes their ids to FILE
    (the Rust test pays them, and adds a signed webhook event to FILE)
    stripe_sdk.py paid --api-base URL --api-key KEY --state FILE
        retrieves, captures, refunds, lists, checks errors and the webhook signature

Prints one line per check; exits non-zero on the first failure. Stdlib and `stripe` only.
"""

import argparse
import json
import sys
import traceback

import stripe

CHECKS = 0


def check(condition, what, got=None):
    """One named assertion: printed when it holds, raised with what was seen when it does not."""
    global CHECKS
    if not condition:
        raise AssertionError(f"{what} (got {got!r})")
    CHECKS += 1
    print(f"ok   {what}")


def expect_error(kind, call, what):
    """`call` must raise exactly the SDK error class `kind`; returns the error for more checks."""
    try:
        result = call()
    except kind as e:
        check(True, f"{what}: raises {kind.__name__} ({e.http_status}, {e.code})")
        return e
    except stripe.StripeError as e:
        raise AssertionError(f"{what}: raised {type(e).__name__} instead of {kind.__name__}: {e}")
    raise AssertionError(f"{what}: no error, returned {result!r}")


def client_for(args, api_key=None):
    # StripeClient's documented way to point at another host; retries off so that one request
    # in the script is one request on the wire.
    return stripe.StripeClient(
        api_key or args.api_key,
        base_addresses={"api": args.api_base},
        max_network_retries=0,
    )


def session_params(reference, items, manual=False):
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": quantity,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": unit_amount,
                    "product_data": {"name": name},
                },
            }
            for name, unit_amount, quantity in items
        ],
        "success_url": "https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/ko",
        "client_reference_id": reference,
        "metadata": {"order": reference, "channel": "sdk-test"},
    }
    if manual:
        params["payment_intent_data"] = {"capture_method": "manual"}
    return params


def phase_create(args, state):
    client = client_for(args)

    auto = client.v1.checkout.sessions.create(
        session_params("order-auto", [("Socks", 1250, 2), ("Shipping", 500, 1)])
    )
    check(isinstance(auto, stripe.checkout.Session), "create: the SDK builds a checkout.Session", type(auto))
    check(auto.object == "checkout.session", "create: object is checkout.session", getattr(auto, "object", None))
    check(auto.id.startswith("cs_test_"), "create: id is cs_test_…", auto.id)
    check(auto.amount_total == 3000 and auto.currency == "eur", "create: amount_total 3000 eur", (auto.amount_total, auto.currency))
    check(auto.status == "open" and auto.payment_status == "unpaid", "create: open and unpaid", (auto.status, auto.payment_status))
    check(auto.mode == "payment", "create: mode payment", auto.mode)
    check(auto.client_reference_id == "order-auto", "create: client_reference_id echoed", auto.client_reference_id)
    check(auto.metadata["order"] == "order-auto" and auto.metadata.channel == "sdk-test", "create: metadata echoed", auto.metadata)
    check(auto.success_url.startswith("https://shop.example/ok"), "create: success_url echoed", auto.success_url)
    check(auto.payment_intent is None, "create: no PaymentIntent before the buyer pays", auto.payment_intent)
    check(isinstance(auto.url, str) and auto.url.startswith("http"), "create: hosted page url", auto.url)
    check(auto.last_response.headers.get("Request-Id", "").startswith("req_"), "create: Request-Id header", dict(auto.last_response.headers))

    manual = client.v1.checkout.sessions.create(
        session_params("order-manual", [("Jacket", 4200, 1)], manual=True)
    )
    check(manual.amount_total == 4200, "create (manual capture): amount_total 4200", manual.amount_total)
    ids = (auto.last_response.request_id, manual.last_response.request_id)
    check(ids[0] != ids[1], "Request-Id: one per request", ids)

    again = client.v1.checkout.sessions.retrieve(auto.id)
    check(again.id == auto.id and again.status == "open", "retrieve: same session, still open", (again.id, again.status))

    # Errors, as the SDK classifies them from the status and the error envelope.
    e = expect_error(
        stripe.AuthenticationError,
        lambda: client_for(args, "sk_test_wrong000000000000000000").v1.checkout.sessions.retrieve(auto.id),
        "wrong API key",
    )
    check(e.http_status == 401, "wrong API key: HTTP 401", e.http_status)
    e = expect_error(
        stripe.InvalidRequestError,
        lambda: client.v1.checkout.sessions.retrieve("cs_test_nope"),
        "unknown session",
    )
    check((e.http_status, e.code, e.param) == (404, "resource_missing", "session"), "unknown session: 404 resource_missing, param session", (e.http_status, e.code, e.param))
    e = expect_error(
        stripe.InvalidRequestError,
        lambda: client.v1.checkout.sessions.create({**session_params("x", [("A", 100, 1)]), "colour": "red"}),
        "unknown parameter",
    )
    check((e.code, e.param) == ("parameter_unknown", "colour"), "unknown parameter: parameter_unknown, param colour", (e.code, e.param))

    state["auto_session"] = auto.id
    state["manual_session"] = manual.id


def phase_paid(args, state):
    client = client_for(args)

    auto = client.v1.checkout.sessions.retrieve(state["auto_session"], {"expand": ["payment_intent"]})
    check(auto.status == "complete" and auto.payment_status == "paid", "paid: session complete and paid", (auto.status, auto.payment_status))
    pi = auto.payment_intent
    check(isinstance(pi, stripe.PaymentIntent), "paid: expand[]=payment_intent gives a PaymentIntent", type(pi))
    check(pi.status == "succeeded" and pi.amount_received == 3000, "paid: PaymentIntent succeeded, 3000 received", (pi.status, pi.amount_received))

    manual = client.v1.checkout.sessions.retrieve(state["manual_session"], {"expand": ["payment_intent"]})
    mpi = manual.payment_intent
    check(mpi.status == "requires_capture" and mpi.capture_method == "manual", "manual: PaymentIntent requires_capture", (mpi.status, mpi.capture_method))
    check(mpi.amount_capturable == 4200, "manual: 4200 capturable", mpi.amount_capturable)

    captured = client.v1.payment_intents.capture(mpi.id, {"amount_to_capture": 4000})
    check(isinstance(captured, stripe.PaymentIntent) and captured.status == "succeeded", "capture: PaymentIntent succeeded", getattr(captured, "status", None))
    check(captured.amount_received == 4000, "capture: 4000 received", captured.amount_received)
    retrieved = client.v1.payment_intents.retrieve(mpi.id)
    check(retrieved.status == "succeeded" and retrieved.amount_received == 4000, "retrieve PaymentIntent: as captured", (retrieved.status, retrieved.amount_received))

    # Full refund: no amount means what remains.
    full = client.v1.refunds.create({"payment_intent": mpi.id})
    check(isinstance(full, stripe.Refund) and full.object == "refund", "full refund: the SDK builds a Refund", type(full))
    check(full.amount == 4000 and full.payment_intent == mpi.id, "full refund: 4000 on the captured intent", (full.amount, full.payment_intent))
    check(full.status in ("pending", "requires_action", "succeeded", "failed", "canceled"), "full refund: a Stripe refund status", full.status)
    e = expect_error(stripe.InvalidRequestError, lambda: client.v1.refunds.create({"payment_intent": mpi.id}), "refund of a refunded intent")
    check(e.code == "charge_already_refunded", "refund of a refunded intent: charge_already_refunded", e.code)

    # Partial refunds, the first with metadata and an idempotency key that is then replayed.
    first = client.v1.refunds.create(
        {"payment_intent": pi.id, "amount": 500, "metadata": {"ticket": "T-1"}, "reason": "requested_by_customer"},
        {"idempotency_key": "sdk-refund-1"},
    )
    check(first.amount == 500 and first.metadata["ticket"] == "T-1", "partial refund: 500 with metadata", (first.amount, first.metadata))
    check(first.reason == "requested_by_customer", "partial refund: reason echoed", first.reason)
    replay = client.v1.refunds.create(
        {"payment_intent": pi.id, "amount": 500, "metadata": {"ticket": "T-1"}, "reason": "requested_by_customer"},
        {"idempotency_key": "sdk-refund-1"},
    )
    check(replay.id == first.id, "idempotency key: the same refund again", (replay.id, first.id))
    check(replay.last_response.headers.get("Idempotent-Replayed") == "true", "idempotency key: Idempotent-Replayed: true", dict(replay.last_response.headers))
    expect_error(
        stripe.IdempotencyError,
        lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 600}, {"idempotency_key": "sdk-refund-1"}),
        "idempotency key reused with other parameters",
    )
    second = client.v1.refunds.create({"payment_intent": pi.id, "amount": 700})
    third = client.v1.refunds.create({"payment_intent": pi.id, "amount": 800})

    e = expect_error(
        stripe.InvalidRequestError,
        lambda: client.v1.refunds.create({"payment_intent": pi.id, "amount": 1001}),
        "over-refund (1001 of 1000 left)",
    )
    check((e.http_status, e.code, e.param) == (400, "amount_too_large", "amount"), "over-refund: 400 amount_too_large, param amount", (e.http_status, e.code, e.param))
    check(isinstance(e.error, stripe.ErrorObject) and e.error.type == "invalid_request_error", "over-refund: error object type invalid_request_error", e.error)

    page = client.v1.refunds.list({"payment_intent": pi.id, "limit": 2})
    check(isinstance(page, stripe.ListObject) and page.object == "list", "list: a ListObject", type(page))
    check(page.url == "/v1/refunds", "list: url /v1/refunds", getattr(page, "url", None))
    check(len(page.data) == 2 and page.has_more is True, "list: limit 2 gives 2 and has_more", (len(page.data), page.has_more))
    check(all(isinstance(r, stripe.Refund) for r in page.data), "list: items are Refunds", [type(r) for r in page.data])
    ids = [r.id for r in page.auto_paging_iter()]
    check(ids == [third.id, second.id, first.id], "auto_paging_iter: the intent's 3 refunds, newest first, across pages", ids)
    others = [r.id for r in client.v1.refunds.list({"payment_intent": mpi.id}).auto_paging_iter()]
    check(others == [full.id], "list: the filter keeps other intents' refunds out", others)
    # Paging backwards: ending_before gives the refunds newer than the cursor, nearest first in
    # each page, and auto_paging_iter walks towards the newest.
    back = client.v1.refunds.list({"payment_intent": pi.id, "ending_before": first.id, "limit": 1})
    check([r.id for r in back.data] == [second.id] and back.has_more is True, "list ending_before: the nearest newer refund, has_more", ([r.id for r in back.data], back.has_more))
    ids = [r.id for r in back.auto_paging_iter()]
    check(ids == [second.id, third.id], "auto_paging_iter backwards: oldest to newest", ids)

    # The module-level configuration and the resource classes: the other documented way in,
    # with its own request paths (class methods, refresh on an instance).
    stripe.api_key = args.api_key
    stripe.api_base = args.api_base
    stripe.max_network_retries = 0
    fetched = stripe.Refund.retrieve(first.id)
    check(isinstance(fetched, stripe.Refund) and fetched.id == first.id and fetched.amount == 500, "Refund.retrieve: the refund", (type(fetched), getattr(fetched, "id", None)))
    check(fetched.metadata["ticket"] == "T-1", "Refund.retrieve: its metadata", fetched.metadata)
    fetched.refresh()
    check(fetched.status == first.status, "Refund.refresh: same status", fetched.status)
    expect_error(stripe.InvalidRequestError, lambda: stripe.Refund.retrieve("re_nope"), "Refund.retrieve of an unknown id")
    session = stripe.checkout.Session.retrieve(auto.id)
    check(isinstance(session.payment_intent, str), "Session.retrieve: PaymentIntent as an id unless expanded", session.payment_intent)
    check("line_items" not in session, "Session.retrieve: line_items only when expanded", sorted(session.to_dict()))
    items = stripe.checkout.Session.list_line_items(auto.id)
    check(isinstance(items, stripe.ListObject) and items.url == f"/v1/checkout/sessions/{auto.id}/line_items", "Session.list_line_items: a list with its url", getattr(items, "url", None))
    described = [(i.object, i.description, i.quantity, i.amount_total, i.price.unit_amount, i.currency) for i in items.data]
    check(described == [("item", "Socks", 2, 2500, 1250, "eur"), ("item", "Shipping", 1, 500, 500, "eur")], "Session.list_line_items: the items as created", described)
    check(all(isinstance(i, stripe.LineItem) and isinstance(i.price, stripe.Price) for i in items.data), "Session.list_line_items: LineItem objects with a Price", [type(i) for i in items.data])
    first_item = client.v1.checkout.sessions.line_items.list(auto.id, {"limit": 1})
    check(len(first_item.data) == 1 and first_item.has_more, "line_items limit 1: one page of one, has_more", (len(first_item.data), first_item.has_more))
    check([i.description for i in first_item.auto_paging_iter()] == ["Socks", "Shipping"], "line_items auto_paging_iter: both items", None)
    expanded = client.v1.checkout.sessions.retrieve(auto.id, {"expand": ["line_items", "payment_intent"]})
    check(isinstance(expanded.line_items, stripe.ListObject) and len(expanded.line_items.data) == 2, "expand[]=line_items: the list in the session", type(getattr(expanded, "line_items", None)))
    check(isinstance(expanded.payment_intent, stripe.PaymentIntent), "expand two fields at once", type(expanded.payment_intent))

    # The webhook: payload and header made by the Rust mock, checked by the SDK.
    payload, header, secret = state["event_payload"], state["event_header"], state["webhook_secret"]
    event = stripe.Webhook.construct_event(payload, header, secret)
    check(isinstance(event, stripe.Event) and event.type == "checkout.session.completed", "webhook: construct_event accepts it", getattr(event, "type", None))
    obj = event.data.object
    check(isinstance(obj, stripe.checkout.Session) and obj.id == auto.id, "webhook: data.object is the session", (type(obj), getattr(obj, "id", None)))
    check(obj.payment_intent == pi.id, "webhook: the session names its PaymentIntent", obj.payment_intent)
    tampered = payload.replace('"paid"', '"unpaid"', 1)
    check(tampered != payload, "webhook: tampered copy differs", None)
    expect_error(stripe.SignatureVerificationError, lambda: stripe.Webhook.construct_event(tampered, header, secret), "webhook: tampered payload")
    expect_error(stripe.SignatureVerificationError, lambda: stripe.Webhook.construct_event(payload, header, secret + "x"), "webhook: wrong secret")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["create", "paid"])
    parser.add_argument("--api-base", required=True, help="the mock's URL, e.g. http://127.0.0.1:1234")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--state", required=True, help="JSON file shared with the Rust test")
    args = parser.parse_args()
    print(f"stripe-python {stripe.VERSION}, phase {args.phase}, against {args.api_base}")
    try:
        if args.phase == "create":
            state = {}
            phase_create(args, state)
            with open(args.state, "w") as f:
                json.dump(state, f)
        else:
            with open(args.state) as f:
                state = json.load(f)
            phase_paid(args, state)
    except Exception:
        traceback.print_exc(file=sys.stdout)
        print(f"FAILED after {CHECKS} checks")
        return 1
    print(f"{CHECKS} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
