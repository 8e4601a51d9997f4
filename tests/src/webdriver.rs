//! A small W3C WebDriver client: starts chromedriver on a free loopback port and drives headless
//! Chromium through the WebDriver HTTP API (new session, navigate, find by CSS, click, read the
//! page, screenshot, delete session). Only what the browser tests need.

use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str =
    "install them (as root) with `apt-get update && apt-get install -y chromium chromium-driver`";

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver command that failed: the driver's `error` and `message`, or a transport error.
#[derive(Debug)]
pub struct WebDriverError {
    pub command: String,
    pub status: Option<u16>,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed", self.command)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        write!(f, ": {}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

/// A running chromedriver, killed when dropped.
pub struct ChromeDriver {
    pub url: String,
    child: Child,
    log: tempfile::NamedTempFile,
    http: reqwest::Client,
}

impl ChromeDriver {
    /// Starts `/usr/bin/chromedriver` on a free loopback port and waits until it is ready.
    /// Panics with an install hint when chromedriver or Chromium is missing: a browser test
    /// must never pass by skipping.
    pub async fn start() -> ChromeDriver {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: {INSTALL_HINT}"
            );
        }
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER} ({e}): {INSTALL_HINT}"));
        let driver = ChromeDriver {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await;
            if let Ok(response) = status {
                let body: Value = response.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready; its log:\n{}",
                driver.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// chromedriver's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// A new headless Chromium session with a fresh profile directory.
    pub async fn new_session(&self) -> Result<Session, WebDriverError> {
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1024,768",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let value = command(
            &self.http,
            "new session",
            reqwest::Method::POST,
            &format!("{}/session", self.url),
            Some(&capabilities),
        )
        .await?;
        let id = value["sessionId"].as_str().ok_or_else(|| WebDriverError {
            command: "new session".into(),
            status: None,
            error: "no sessionId".into(),
            message: value.to_string(),
        })?;
        Ok(Session {
            base: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
            open: true,
            _profile: profile,
        })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Sends one WebDriver command and returns its `value`, or the driver's error.
async fn command(
    http: &reqwest::Client,
    name: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, WebDriverError> {
    let failed = |status: Option<u16>, error: &str, message: String| WebDriverError {
        command: name.to_owned(),
        status,
        error: error.to_owned(),
        message,
    };
    let mut request = http.request(method, url).timeout(Duration::from_secs(60));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| failed(None, "transport", e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| failed(Some(status), "transport", e.to_string()))?;
    let mut body: Value =
        serde_json::from_str(&text).map_err(|_| failed(Some(status), "not JSON", text.clone()))?;
    let value = body["value"].take();
    if status >= 400 || value.get("error").is_some_and(|e| e.is_string()) {
        return Err(failed(
            Some(status),
            value["error"].as_str().unwrap_or("unknown error"),
            value["message"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    Ok(value)
}

/// An element reference of the current page.
#[derive(Debug, Clone)]
pub struct Element(pub String);

/// One browser session; deleted (the browser closed) by [`Session::quit`] or, failing that,
/// when dropped.
pub struct Session {
    base: String,
    http: reqwest::Client,
    open: bool,
    _profile: tempfile::TempDir,
}

impl Session {
    async fn call(
        &self,
        name: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        command(
            &self.http,
            name,
            method,
            &format!("{}{path}", self.base),
            body.as_ref(),
        )
        .await
    }

    /// Navigates and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<(), WebDriverError> {
        self.call(
            "navigate",
            reqwest::Method::POST,
            "/url",
            Some(json!({"url": url})),
        )
        .await?;
        Ok(())
    }

    pub async fn current_url(&self) -> Result<String, WebDriverError> {
        Ok(self
            .call("get url", reqwest::Method::GET, "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub async fn title(&self) -> Result<String, WebDriverError> {
        Ok(self
            .call("get title", reqwest::Method::GET, "/title", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub async fn source(&self) -> Result<String, WebDriverError> {
        Ok(self
            .call("get page source", reqwest::Method::GET, "/source", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element, WebDriverError> {
        let value = self
            .call(
                "find element",
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        value[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| WebDriverError {
                command: format!("find element {css}"),
                status: None,
                error: "no element reference".into(),
                message: value.to_string(),
            })
    }

    pub async fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        self.call(
            "click",
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        Ok(self
            .call(
                "get element text",
                reqwest::Method::GET,
                &format!("/element/{}/text", element.0),
                None,
            )
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A PNG of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, WebDriverError> {
        let value = self
            .call("take screenshot", reqwest::Method::GET, "/screenshot", None)
            .await?;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|e| WebDriverError {
                command: "take screenshot".into(),
                status: None,
                error: "not base64".into(),
                message: e.to_string(),
            })
    }

    /// Deletes the session, closing the browser.
    pub async fn quit(mut self) -> Result<(), WebDriverError> {
        self.open = false;
        self.call("delete session", reqwest::Method::DELETE, "", None)
            .await?;
        Ok(())
    }
}

impl Drop for Session {
    /// A test that panicked never reached `quit`: close the browser anyway, so no Chromium
    /// outlives the test. Drop cannot await, so this runs on its own thread and runtime.
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let url = self.base.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let _ = reqwest::Client::new()
                        .delete(url)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                });
            }
        })
        .join();
    }
}
