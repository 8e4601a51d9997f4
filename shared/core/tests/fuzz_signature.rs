//! Fuzzes the `t=…,v1=…` signature header parser (`verify_timestamped`), which reads what any
//! caller of a webhook sends: it must never panic, and must accept only a correct signature
//! whose timestamp is within the tolerance of now, whatever the numbers.

use pgm_core::signing::{sign_timestamped, verify_timestamped, SignatureError};
use proptest::prelude::*;

const SECRET: &[u8] = b"whsec_fuzz";
const TOLERANCE: i64 = 300;
const PAYLOAD: &[u8] = b"{\"id\":1}";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Arbitrary text never panics and is never accepted.
    #[test]
    fn arbitrary_headers_are_refused_without_panicking(header in ".{0,200}", now in any::<i64>()) {
        prop_assert!(verify_timestamped(SECRET, &header, PAYLOAD, now, TOLERANCE).is_err());
    }

    /// Header-shaped text (the parser's own alphabet) never panics and is never accepted.
    #[test]
    fn header_shaped_noise_is_refused(header in "(t|v1|v0|x)?=?[-0-9a-f]{0,24}(,(t|v1)=[-0-9a-f]{0,70}){0,4}", now in any::<i64>()) {
        prop_assert!(verify_timestamped(SECRET, &header, PAYLOAD, now, TOLERANCE).is_err());
    }

    /// A correctly signed header passes exactly when its timestamp is within the tolerance of
    /// now, for every pair of i64 (no overflow, no wrap that makes an old signature fresh).
    #[test]
    fn signed_headers_pass_only_when_fresh(t in any::<i64>(), now in any::<i64>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let header = sign_timestamped(SECRET, t, &body);
        let fresh = (i128::from(now) - i128::from(t)).abs() <= i128::from(TOLERANCE);
        let result = verify_timestamped(SECRET, &header, &body, now, TOLERANCE);
        if fresh {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert_eq!(result, Err(SignatureError::Stale(TOLERANCE)));
        }
    }

    /// Near now, which is where a replay would be tried.
    #[test]
    fn signed_headers_near_now(offset in -1_000i64..1_000, now in any::<i64>()) {
        let t = now.saturating_add(offset);
        let header = sign_timestamped(SECRET, t, PAYLOAD);
        let fresh = (i128::from(now) - i128::from(t)).abs() <= i128::from(TOLERANCE);
        prop_assert_eq!(verify_timestamped(SECRET, &header, PAYLOAD, now, TOLERANCE).is_ok(), fresh);
    }
}
