//! A buyer on the sandbox's hosted 3-D Secure page, in a real (headless) Chromium driven over
//! WebDriver: the page renders, the buttons submit, the payment settles through the sandbox's
//! signed callback, and the merchant gets exactly one signed notification per payment.

use pgm_core::signing::verify_timestamped;
use pgm_e2e::webdriver::{ChromeDriver, Session};
use pgm_e2e::{eventually, Receiver, TestServer};
use std::time::Duration;

const CALLBACK_SECRET: &str = "whsec_browser_test";
const SCREENSHOT: &str = "/tmp/pgm-3ds.png";

/// Waits until the page's title is `title` (a form submission navigates asynchronously).
async fn wait_for_title(browser: &Session, title: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let seen = browser.title().await.unwrap_or_default();
        if seen == title {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page's title stayed `{seen}`, not `{title}`"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_buyer_approves_or_declines_3ds_in_a_real_browser() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[
        ("PAYMENT_CALLBACK_URL", receiver.url.as_str()),
        ("PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET),
    ])
    .await;
    let driver = ChromeDriver::start().await;
    let browser = driver
        .new_session()
        .await
        .unwrap_or_else(|e| panic!("{e}\nchromedriver log:\n{}", driver.log()));

    let cases = [
        (
            "br-approve",
            "#approve button",
            "Payment approved",
            "ACCEPTED",
            true,
            "payment.succeeded",
        ),
        (
            "br-decline",
            "#decline button",
            "Payment declined",
            "FAILED",
            false,
            "payment.failed",
        ),
    ];
    for (id, button, result, status, successful, event_type) in cases {
        let pay = pgm.pay(id, "12.34", "tok_3ds").await.json();
        assert_eq!(pay["result"], "REDIRECT_TO_URL", "{pay}");
        let url = pay["redirectToUrl"].as_str().expect("a redirect URL");

        browser.goto(url).await.unwrap();
        assert_eq!(browser.current_url().await.unwrap(), url);
        assert_eq!(browser.title().await.unwrap(), "Sandbox 3-D Secure");
        let amount = browser.find("#amount").await.unwrap();
        assert_eq!(browser.text(&amount).await.unwrap(), "12.34 EUR");
        let source = browser.source().await.unwrap();
        assert!(source.contains(id), "the page names the order: {source}");
        if id == "br-approve" {
            let png = browser.screenshot_png().await.unwrap();
            assert!(
                png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
                "not a PNG"
            );
            std::fs::write(SCREENSHOT, &png).expect("write the screenshot");
        }
        assert_eq!(pgm.status_of(id).await["status"], "PENDING");

        let choice = browser.find(button).await.unwrap();
        browser.click(&choice).await.unwrap();
        wait_for_title(&browser, result).await;
        let shown = browser.find("#result").await.unwrap();
        assert_eq!(browser.text(&shown).await.unwrap(), result);

        assert_eq!(pgm.status_of(id).await["status"], status);
        assert!(
            eventually(Duration::from_secs(10), || async {
                !receiver.for_payment(id).is_empty()
            })
            .await,
            "no notification for {id}"
        );
        // Exactly one: give a duplicate time to show up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let notifications = receiver.for_payment(id);
        assert_eq!(
            notifications.len(),
            1,
            "{:#?}",
            notifications.iter().map(|n| &n.body).collect::<Vec<_>>()
        );
        let n = &notifications[0];
        let signature = n.signature.as_deref().expect("PGM-Signature present");
        let now = pgm_core::clock::now_ms() / 1000;
        verify_timestamped(CALLBACK_SECRET.as_bytes(), signature, &n.raw, now, 300)
            .expect("PGM-Signature verifies");
        assert!(
            verify_timestamped(b"another secret", signature, &n.raw, now, 300).is_err(),
            "the signature depends on the secret"
        );
        assert_eq!(n.body["isSuccessful"], successful);
        assert_eq!(n.body["eventType"], event_type);
        assert_eq!(n.body["amount"], "12.34");
        assert_eq!(n.body["paymentID"], pay["paymentID"]);

        // Back on the page: already decided, and deciding again is not possible.
        browser.goto(url).await.unwrap();
        assert_eq!(browser.title().await.unwrap(), "Already decided");
        assert!(
            browser.find("#approve button").await.is_err(),
            "no buttons once decided"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "one notification per payment, nothing else"
    );
    browser.quit().await.unwrap();
}

/// A second tab (or a double submit) must not contradict what the buyer already decided: the
/// page answers with the decision on record, and nothing changes.
#[tokio::test]
async fn a_stale_3ds_tab_cannot_contradict_the_decision() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[("PAYMENT_CALLBACK_URL", receiver.url.as_str())]).await;
    let driver = ChromeDriver::start().await;
    let browser = driver
        .new_session()
        .await
        .unwrap_or_else(|e| panic!("{e}\nchromedriver log:\n{}", driver.log()));

    let pay = pgm.pay("br-stale", "8.00", "tok_3ds").await.json();
    let url = pay["redirectToUrl"].as_str().expect("a redirect URL");
    browser.goto(url).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Sandbox 3-D Secure");

    // Meanwhile, in another tab, the buyer approves.
    let approved = pgm.decide_3ds(url, "approve").await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(pgm.status_of("br-stale").await["status"], "ACCEPTED");

    // Then declines in the stale tab.
    let decline = browser.find("#decline button").await.unwrap();
    browser.click(&decline).await.unwrap();
    wait_for_title(&browser, "Already decided").await;
    let shown = browser.find("#result").await.unwrap();
    assert_eq!(
        browser.text(&shown).await.unwrap(),
        "This payment is Captured."
    );

    assert_eq!(pgm.status_of("br-stale").await["status"], "ACCEPTED");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notifications = receiver.for_payment("br-stale");
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].body["eventType"], "payment.succeeded");
    browser.quit().await.unwrap();
}
