//! The buyer's side of the sandbox's hosted 3DS page, for tests and the benchmark: the form a
//! browser would post, read from the page that was served (its per-page token included).

/// The page's `pageToken` (the form's hidden field), if the page has one.
pub fn page_token(html: &str) -> Option<&str> {
    let after = html.split(r#"name="pageToken" value=""#).nth(1)?;
    after.split('"').next()
}

/// The urlencoded body of the page's Approve (`approve`) or Decline (`decline`) form.
pub fn decision_form(html: &str, decision: &str) -> String {
    let token = page_token(html).unwrap_or_else(|| panic!("no pageToken on the page: {html}"));
    format!("pageToken={token}&decision={decision}")
}
