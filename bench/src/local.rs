//! `pgm-local` (the release binary) as its own process, on a free loopback port, with its data
//! in a directory of the bench's choosing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalPgm {
    pub url: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for LocalPgm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl LocalPgm {
    /// Starts `binary` with `env` (nothing else from the bench's environment) and its data in a
    /// new directory under `data_parent`; returns once it answers.
    pub async fn start(
        binary: &Path,
        data_parent: &Path,
        env: &[(&str, &str)],
    ) -> Result<LocalPgm, String> {
        let data = tempfile::Builder::new()
            .prefix("pgm-bench-")
            .tempdir_in(data_parent)
            .map_err(|e| format!("{}: {e}", data_parent.display()))?;
        let port = free_port()?;
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HTTP_PORT", port.to_string())
            .env("PGM_DATA_DIR", data.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut local = LocalPgm {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _data: data,
        };
        local.wait_until_up().await?;
        Ok(local)
    }

    async fn wait_until_up(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let probe = http
                .get(format!("{}/documentation/openapi.json", self.url))
                .send()
                .await;
            if matches!(&probe, Ok(answer) if answer.status().is_success()) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("pgm-local exited at start ({status})"));
            }
            if Instant::now() > deadline {
                return Err("pgm-local did not answer within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        crate::lambda::peak_rss_kib(self.child.id())
    }
}
