//! Runs the Braintree mock until Ctrl-C, for trying a Braintree pay by hand (README, "Try a
//! Braintree pay against the mock"): `cargo run -p pgm-mocks --example braintree_mock`.

use pgm_mocks::braintree::{BraintreeMock, MERCHANT_ID, PRIVATE_KEY, PUBLIC_KEY};

#[tokio::main]
async fn main() {
    let mock = BraintreeMock::start().await;
    mock.add_customer("demo-customer");
    println!("Braintree mock at {}", mock.url());
    println!(
        "BRAINTREE_BASE_URL={} BRAINTREE_MERCHANT_ID={MERCHANT_ID} BRAINTREE_PUBLIC_KEY={PUBLIC_KEY} \
         BRAINTREE_PRIVATE_KEY={PRIVATE_KEY}",
        mock.url()
    );
    println!("vaulted customer: demo-customer; nonces: fake-paypal-one-time-nonce, fake-processor-declined-visa-nonce");
    let _ = tokio::signal::ctrl_c().await;
}
