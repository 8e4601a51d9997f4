"""Braintree's official Python SDK (PyPI `braintree`) against the Braintree mock (pgm-mocks).

If the SDK can talk to the mock (its Basic auth, XML bodies and answers, validation error shapes,
declines, 404s), the mock speaks Braintree's gateway wire format; our adapter agreeing with the
mock would prove nothing about that. Also the source of the tests' Braintree webhooks: the SDK's
own `webhook_testing.sample_notification`, signed the SDK's way.

    braintree_sdk.py drive    --url URL --state FILE   sale, find, void, declines, errors, token
    (the Rust test settles the sale written to FILE: Braintree settles in batches)
    braintree_sdk.py settled  --url URL --state FILE   refunds of the settled sale
    braintree_sdk.py webhook  --kind KIND --id ID [--public-key K --private-key K]
        prints {"bt_signature": …, "bt_payload": …} as JSON

Prints one line per check; exits non-zero on the first failure. Stdlib and `braintree` only.
"""

import argparse
import base64
import json
import sys
import traceback
from decimal import Decimal
from urllib.parse import urlparse

import braintree

# The mock's credentials (tests/mocks/src/braintree.rs).
MERCHANT_ID = "pgm_merchant"
PUBLIC_KEY = "pgm_public_key"
PRIVATE_KEY = "pgm_private_key_0123456789"
MERCHANT_ACCOUNT_ID = "pgm_eur"

CHECKS = 0


def check(condition, what, got=None):
    global CHECKS
    if not condition:
        raise AssertionError(f"{what} (got {got!r})")
    CHECKS += 1
    print(f"ok   {what}")


def gateway(url, public_key=PUBLIC_KEY, private_key=PRIVATE_KEY):
    # An Environment of our own is the SDK's way to another host: a port other than 443 makes it
    # speak plain http (Environment.protocol), and no certificate is checked.
    where = urlparse(url)
    env = braintree.Environment("pgm-mock", where.hostname, str(where.port), "http://auth.invalid",
                                False, None)
    config = braintree.Configuration(env, MERCHANT_ID, public_key, private_key, timeout=10)
    return braintree.BraintreeGateway(config)


def error_codes(result, attribute):
    return [e.code for e in result.errors.for_object("transaction").on(attribute)]


def drive(args):
    gw = gateway(args.url)

    token = gw.client_token.generate()
    config = json.loads(base64.b64decode(token))
    check(config.get("authorizationFingerprint"), "client token: base64 JSON with a fingerprint", config)

    sale = gw.transaction.sale({
        "amount": "10.00",
        "payment_method_nonce": "fake-paypal-one-time-nonce",
        "order_id": "sdk-order-1",
        "merchant_account_id": MERCHANT_ACCOUNT_ID,
        "device_data": '{"correlation_id":"abc"}',
        "options": {"submit_for_settlement": True},
    })
    check(sale.is_success, "sale with submit_for_settlement succeeds", getattr(sale, "message", None))
    t = sale.transaction
    check(t.status == braintree.Transaction.Status.SubmittedForSettlement, "sale is submitted_for_settlement", t.status)
    check(t.amount == Decimal("10.00") and t.currency_iso_code == "EUR", "amount and currency read back", (t.amount, t.currency_iso_code))
    check(t.order_id == "sdk-order-1", "order_id read back", t.order_id)

    found = gw.transaction.find(t.id)
    check(found.id == t.id and found.status == t.status, "find returns the sale", found.status)

    ids = gw.transaction.search(braintree.TransactionSearch.order_id == "sdk-order-1").ids
    check(ids == [t.id], "search by order_id finds the sale", ids)

    early = gw.transaction.refund(t.id, "1.00")
    check(not early.is_success and error_codes(early, "base") == ["91506"], "refund before settlement: 91506", early)

    auth = gw.transaction.sale({"amount": "3.00", "payment_method_nonce": "fake-valid-nonce"})
    check(auth.is_success and auth.transaction.status == "authorized", "sale without submit is authorized", auth)
    voided = gw.transaction.void(auth.transaction.id)
    check(voided.is_success and voided.transaction.status == "voided", "void of an authorization", voided)
    again = gw.transaction.void(auth.transaction.id)
    check(not again.is_success and error_codes(again, "base") == ["91504"], "a voided sale cannot be voided: 91504", again)

    declined = gw.transaction.sale({"amount": "5.00", "payment_method_nonce": "fake-processor-declined-visa-nonce"})
    check(not declined.is_success and declined.transaction is not None
          and declined.transaction.status == "processor_declined", "a decline carries its transaction", declined)
    check(declined.transaction.processor_response_code == "2000", "decline code 2000", declined.transaction.processor_response_code)

    for params, attribute, code, what in [
        ({"payment_method_nonce": "fake-valid-nonce"}, "amount", "81502", "amount required"),
        ({"amount": "1.001", "payment_method_nonce": "fake-valid-nonce"}, "amount", "81503", "amount format"),
        ({"amount": "0.00", "payment_method_nonce": "fake-valid-nonce"}, "amount", "81531", "amount above zero"),
        ({"amount": "1.00", "payment_method_nonce": "no-such-nonce"}, "payment_method_nonce", "91565", "unknown nonce"),
        ({"amount": "1.00", "payment_method_nonce": "fake-consumed-nonce"}, "payment_method_nonce", "91564", "consumed nonce"),
        ({"amount": "1.00", "customer_id": "nobody"}, "customer_id", "91510", "unknown customer"),
    ]:
        r = gw.transaction.sale(params)
        check(not r.is_success and error_codes(r, attribute) == [code], f"validation: {what} ({code})", r)

    vaulted = gw.transaction.sale({"amount": "2.00", "payment_method_nonce": "fake-valid-nonce",
                                   "options": {"store_in_vault_on_success": True, "submit_for_settlement": True}})
    check(vaulted.is_success and vaulted.transaction.customer_details.id, "store_in_vault_on_success makes a customer", vaulted)
    customer = vaulted.transaction.customer_details.id
    repeat = gw.transaction.sale({"amount": "2.50", "customer_id": customer})
    check(repeat.is_success, "a vaulted customer pays without a nonce", repeat)

    try:
        gw.transaction.find("nosuchtx")
        raise AssertionError("find of an unknown id did not raise")
    except braintree.exceptions.NotFoundError:
        check(True, "find of an unknown id: NotFoundError")
    try:
        gateway(args.url, private_key="wrong").transaction.find(t.id)
        raise AssertionError("a wrong key was accepted")
    except braintree.exceptions.AuthenticationError:
        check(True, "a wrong private key: AuthenticationError")

    with open(args.state, "w") as f:
        json.dump({"sale": t.id}, f)


def settled(args):
    gw = gateway(args.url)
    with open(args.state) as f:
        sale = json.load(f)["sale"]
    part = gw.transaction.refund(sale, "4.00")
    check(part.is_success and part.transaction.type == "credit" and part.transaction.amount == Decimal("4.00"),
          "partial refund of a settled sale", part)
    check(part.transaction.refunded_transaction_id == sale, "the credit names the sale", part.transaction.refunded_transaction_id)
    too_much = gw.transaction.refund(sale, "7.00")
    check(not too_much.is_success and error_codes(too_much, "amount") == ["91521"], "over-refund: 91521", too_much)
    rest = gw.transaction.refund(sale)
    check(rest.is_success and rest.transaction.amount == Decimal("6.00"), "refund without amount: what remains", rest)
    done = gw.transaction.find(sale)
    check(len(done.refund_ids) == 2, "the sale lists its refunds", done.refund_ids)
    void = gw.transaction.void(sale)
    check(not void.is_success and error_codes(void, "base") == ["91504"], "a settled sale cannot be voided", void)


def webhook(args):
    # Only the keys matter here: the helper signs locally, no request is made.
    config = braintree.Configuration(braintree.Environment.Sandbox, MERCHANT_ID, args.public_key, args.private_key)
    sample = braintree.BraintreeGateway(config).webhook_testing.sample_notification(args.kind, args.id)
    payload = sample["bt_payload"]
    if isinstance(payload, bytes):
        payload = payload.decode("ascii")
    print(json.dumps({"bt_signature": sample["bt_signature"], "bt_payload": payload}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["drive", "settled", "webhook"])
    parser.add_argument("--url")
    parser.add_argument("--state")
    parser.add_argument("--kind")
    parser.add_argument("--id")
    parser.add_argument("--public-key", default=PUBLIC_KEY)
    parser.add_argument("--private-key", default=PRIVATE_KEY)
    args = parser.parse_args()
    try:
        {"drive": drive, "settled": settled, "webhook": webhook}[args.phase](args)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    if args.phase != "webhook":
        print(f"{CHECKS} checks passed")


if __name__ == "__main__":
    main()
