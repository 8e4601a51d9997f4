//! The provider conformance suite: one set of behavioural cases (`cases.rs`), written once and
//! instantiated for every provider against its mock, as the store's suite is for both
//! backends. What differs per provider is in its driver (`stripe.rs`, `sandbox.rs`, `safecharge.rs`, …); what a
//! provider can do comes from the PGM's registry. Run one provider's suite with
//! `scripts/test-provider <name>` (`cargo test -p pgm-e2e --test conformance <name>::`).
//! A case that does not apply to a provider still runs: it asserts what must happen instead
//! (e.g. the 501) and prints `SKIPPED <provider>::<case>: <reason>` (see it with --nocapture).

#[path = "bpc.rs"]
mod bpc_driver;
#[path = "braintree.rs"]
mod braintree_driver;
mod cases;
mod driver;
#[path = "gestpay.rs"]
mod gestpay_driver;
#[path = "paymentz.rs"]
mod paymentz_driver;
#[path = "safecharge.rs"]
mod safecharge_driver;
#[path = "sandbox.rs"]
mod sandbox_driver;
#[path = "satispay.rs"]
mod satispay_driver;
#[path = "scalapay.rs"]
mod scalapay_driver;
#[path = "soisy.rs"]
mod soisy_driver;
#[path = "stripe.rs"]
mod stripe_driver;
#[path = "unicredit.rs"]
mod unicredit_driver;

/// Instantiates every case for one provider, as `<provider>::<case>`.
macro_rules! conformance {
    ($provider:ident, $driver:path) => {
        mod $provider {
            conformance!(@cases $driver;
                pay_accepted,
                pay_declined,
                pay_pending,
                redirect_round_trip_notifies,
                confirm_captures_at_most_the_authorisation,
                refund_full,
                refund_partial_and_over_refund,
                webhook_valid_then_replayed,
                webhook_forged,
                webhook_stale,
                lost_pay_answer_resolved_by_check,
                provider_5xx_is_pending_never_ko,
                provider_reset_is_pending_never_ko,
                provider_timeout_is_pending_never_ko,
                concurrent_duplicate_pays_charge_once,
                unsupported_routes_answer_501,
            );
        }
    };
    (@cases $driver:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let suite = crate::driver::Suite::start(Box::new($driver().await)).await;
                crate::cases::$case(suite).await;
            }
        )*
    };
}

conformance!(sandbox, crate::sandbox_driver::start);
conformance!(gestpay, crate::gestpay_driver::start);
conformance!(satispay, crate::satispay_driver::start);
conformance!(scalapay, crate::scalapay_driver::start);
conformance!(soisy, crate::soisy_driver::start);
conformance!(stripe, crate::stripe_driver::start);
conformance!(safecharge, crate::safecharge_driver::start);
conformance!(bpc, crate::bpc_driver::start);
conformance!(paymentz, crate::paymentz_driver::start);
conformance!(unicredit, crate::unicredit_driver::start);
conformance!(braintree, crate::braintree_driver::start);
