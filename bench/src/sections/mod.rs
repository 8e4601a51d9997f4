//! One module per figure of the report, each returning its Markdown.

pub mod aws_requests;
pub mod footprint;
pub mod init;
pub mod overhead;
pub mod throughput;

/// What a section measured: its Markdown, and a line for each target of the issue it checks.
pub struct Report {
    pub text: String,
    /// `| target | measured | verdict |` rows of the summary.
    pub targets: Vec<String>,
}

impl From<String> for Report {
    fn from(text: String) -> Report {
        Report {
            text,
            targets: Vec::new(),
        }
    }
}

pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}
