//! A local AWS API (moto's server mode) for tests of the DynamoDB and SQS adapters.
//!
//! [`endpoint`] returns `$PGM_MOTO_URL` when it is set; otherwise it starts one moto server for
//! the whole test process on a free loopback port and returns its URL. A missing moto fails the
//! test with an install hint: a test that cannot reach its backend must never pass by skipping.
//!
//! The server we start handles one request at a time. Real DynamoDB applies each conditional
//! write atomically; moto's stock server (`moto_server`) runs requests on parallel threads and
//! evaluates a condition and the write after it without a lock, so nothing there keeps two
//! concurrent conditional writes from both succeeding. Serving requests one by one gives back
//! the per-request atomicity that our concurrency tests rely on. (A `$PGM_MOTO_URL` server should be started the
//! same way for those tests.)

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Starts moto's WSGI app on a single-threaded werkzeug server, prints the bound port, and exits
/// as soon as its stdin closes, which happens when the test process ends (however it ends), so
/// no server outlives the tests.
const LAUNCHER: &str = r#"
import logging, os, sys, threading
try:
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
except ImportError as e:
    sys.stderr.write("moto server mode is not installed (%s)\n" % e)
    sys.exit(3)
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=False)
print(server.server_port, flush=True)
def exit_with_parent():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=exit_with_parent, daemon=True).start()
server.serve_forever()
"#;

const INSTALL_HINT: &str =
    "install it with `pip install 'moto[server]'` (or set PGM_MOTO_URL to a running moto server)";

struct Moto {
    url: String,
    // Held for the life of the process: dropping the pipe tells the server to exit.
    _child: Child,
    _stdin: ChildStdin,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The URL of a moto server (`http://127.0.0.1:<port>`), started once per test process.
///
/// Panics, with an install hint, when moto cannot be started.
pub async fn endpoint() -> String {
    if let Ok(url) = std::env::var("PGM_MOTO_URL") {
        if !url.trim().is_empty() {
            return url.trim().trim_end_matches('/').to_owned();
        }
    }
    // One blocking start (about a second) for the whole process; later calls return at once.
    match MOTO.get_or_init(start) {
        Ok(moto) => moto.url.clone(),
        Err(why) => panic!("cannot start moto: {why}; {INSTALL_HINT}"),
    }
}

fn start() -> Result<Moto, String> {
    let python = std::env::var("PGM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(LAUNCHER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{python}`: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (stderr, stderr_reader) = drain(child.stderr.take().ok_or("no stderr pipe")?);

    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .map_err(|e| format!("reading moto's port: {e}"))?;
    let port: u16 = match first_line.trim().parse() {
        Ok(port) => port,
        Err(_) => {
            let _ = child.wait();
            let _ = stderr_reader.join();
            let said = stderr
                .lock()
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            return Err(format!("moto did not start: {said}"));
        }
    };

    // The socket is bound before the port is printed; wait until it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("moto exited ({status}) before answering"));
        }
        if Instant::now() > deadline {
            return Err("moto did not answer within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Moto {
        url: format!("http://127.0.0.1:{port}"),
        _child: child,
        _stdin: stdin,
    })
}

/// Reads the server's stderr in the background (so the pipe never fills up) and keeps the last
/// few kilobytes for error messages.
fn drain(mut stderr: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let kept = Arc::new(Mutex::new(String::new()));
    let sink = kept.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 8192 {
                    let cut = s.len() - 8192;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        }
    });
    (kept, reader)
}
