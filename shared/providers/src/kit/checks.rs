//! Request checks that every adapter makes the same way.

use crate::ProviderError;
use pgm_core::{Money, Payment};

/// The request lacks or mis-states something this provider needs: a 400 naming `field`.
pub fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidRequest {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A capture or refund is in the payment's own currency.
pub fn same_currency(payment: &Payment, amount: Money) -> Result<(), ProviderError> {
    if amount.currency() == payment.amount.currency() {
        Ok(())
    } else {
        Err(invalid(
            "amount",
            format!(
                "must be in {}, the payment's currency",
                payment.amount.currency()
            ),
        ))
    }
}

/// `id` when it can be a provider's id in a URL path: 1 to `max_len` characters, ASCII letters
/// and digits and the given extra bytes only. Anything else (`../`, `?`, `/`) would change the
/// request, so an adapter treats it as an id the provider cannot know.
pub fn path_id<'a>(id: &'a str, max_len: usize, extra: &[u8]) -> Option<&'a str> {
    (!id.is_empty()
        && id.len() <= max_len
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b)))
    .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_may_reach_a_path() {
        assert_eq!(path_id("cs_test_a1B2", 255, b"_"), Some("cs_test_a1B2"));
        assert_eq!(path_id("../v1/refunds", 255, b"_"), None);
        assert_eq!(path_id("cs_1?expand[]=x", 255, b"_"), None);
        assert_eq!(path_id("a-b", 255, b"_"), None);
        assert_eq!(path_id("a-b", 255, b"-"), Some("a-b"));
        assert_eq!(path_id("", 255, b"_"), None);
        assert_eq!(path_id("abcdef", 5, b""), None);
    }
}
