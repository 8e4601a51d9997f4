//! One module per figure of the report, each returning its Markdown.

pub mod aws_requests;
pub mod footprint;
pub mod init;
pub mod overhead;
pub mod throughput;
