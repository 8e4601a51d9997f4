//! IGFS CG's one signature recipe, for requests and responses alike:
//! `base64(HMAC-SHA256(kSig, field1 + field2 + …))`, the fields in the order the operation
//! documents, an absent field as "" and nothing between them (the library's comments show `|`,
//! its code concatenates without a separator, and its test answers verify only that way).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub fn signature(key: &[u8], fields: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for field in fields {
        mac.update(field.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of `fields` (compared in constant time).
pub fn verify(key: &[u8], fields: &[&str], given: &str) -> bool {
    pgm_core::signing::constant_time_eq(signature(key, fields).as_bytes(), given.trim().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"UNI_TESTKEY";

    /// The answers of mattiabasone/PagOnline's tests (`tests/Unit/resources/init/success.xml`
    /// and `verify/success.xml`), which its client accepts with kSig `UNI_TESTKEY`.
    #[test]
    fn the_librarys_init_and_verify_answers_verify() {
        let init = [
            "UNI_MYBK",
            "5c6fdf5d20485",
            "IGFS_000",
            "",
            "00053569646101577621",
            "https://testeps.netswgroup.it/UNI_CG_WEB/app/mybk/main/show?referenceData=4928F6488A2C9F9A831ECAD4230B36D8",
        ];
        assert_eq!(
            signature(KEY, &init),
            "TXeKgbwUvzkhWR4mdH3RBFHWwbXVf4utFviKKWEqK/k="
        );
        // tid, shopID, rc, errorDesc, paymentID, tranID, authCode, enrStatus, authStatus.
        let verify = [
            "UNI_MYBK",
            "5c71649051ef5",
            "IGFS_000",
            "TRANSAZIONE OK",
            "00054481661101578102",
            "3055308080726666",
            "55914405",
            "",
            "",
        ];
        assert!(verify_ok(
            &verify,
            "jUFgA9WbpPnghtd0MICJ6mvOO7a7vCRuiZgr4YWa/A4="
        ));
        assert!(!verify_ok(
            &verify[1..],
            "jUFgA9WbpPnghtd0MICJ6mvOO7a7vCRuiZgr4YWa/A4="
        ));
    }

    fn verify_ok(fields: &[&str], given: &str) -> bool {
        verify(KEY, fields, given)
    }

    /// Request vectors computed independently (Python's hmac) from the documented order.
    #[test]
    fn request_vectors_from_the_documented_order() {
        let callback = "https://pgm.example/unicredit/callback?shopTransactionID=order-1";
        let error = format!("{callback}&outcome=error");
        // apiVersion tid merID payInstr shopID | shopUserRef shopUserName shopUserAccount
        // shopUserMobilePhone shopUserIMEI trType amount currencyCode langID notifyURL errorURL
        // callbackURL addInfo1..5 payInstrToken topUpID
        let init = [
            "2.4.1.5", "UNI_ECOM", "", "", "order-1", "", "", "", "", "", "AUTH", "500", "EUR",
            "IT", callback, &error, "", "", "", "", "", "AUTH", "", "",
        ];
        assert_eq!(
            signature(KEY, &init),
            "xE9uzFTWuv6KxbmfHBF7sQ4+Vr+7HKUB36Xn9gyum8s="
        );
        // Confirm: amount refTranID addInfo1..5 topUpID.
        let confirm = [
            "2.4.1.5",
            "UNI_ECOM",
            "",
            "",
            "order-1",
            "500",
            "3055308080726666",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ];
        assert_eq!(
            signature(KEY, &confirm),
            "2xEUEBf87fTkleV28K8+gvPsdQyV6NYeJtNLLWu+8lc="
        );
    }
}
