use pgm_core::signing::sign_timestamped;
use pgm_core::{NotificationEvent, Secret};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("receiver answered HTTP {0}")]
    Status(u16),
    #[error("receiver unreachable: {0}")]
    Transport(String),
}

/// POSTs notifications to `PAYMENT_CALLBACK_URL`. Only a 2xx counts as delivered.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    url: String,
    secret: Option<Secret>,
}

/// Receivers get this long to answer (the design asks for 5 to 10 s).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(8);

impl Deliverer {
    pub fn new(client: reqwest::Client, url: String, secret: Option<Secret>) -> Deliverer {
        Deliverer {
            client,
            url,
            secret,
        }
    }

    pub async fn deliver(&self, event: &NotificationEvent) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(event).expect("events serialize");
        let mut request = self
            .client
            .post(&self.url)
            .timeout(DELIVERY_TIMEOUT)
            .header("content-type", "application/json")
            .header("user-agent", "pgm-notifier/1")
            .header("pgm-event-id", &event.event_id);
        if let Some(secret) = &self.secret {
            let now = pgm_core::clock::now_ms() / 1000;
            request = request.header(
                "pgm-signature",
                sign_timestamped(secret.expose().as_bytes(), now, &body),
            );
        }
        let response = request.body(body).send().await.map_err(|e| {
            DeliveryError::Transport(
                if e.is_timeout() {
                    "timeout"
                } else {
                    "connection failed"
                }
                .into(),
            )
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }
}
