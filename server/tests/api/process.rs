//! `meterbook serve` as a real process, for tests that kill or signal it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed when dropped: a failing test leaves none behind (one left running
/// would hold the test's output pipe open and hang the run).
pub struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `meterbook serve` on `port` over the database at `url`, once it accepts connections.
pub async fn start_server(url: &str, port: u16, site: &Path) -> Server {
    start_server_with(url, port, site, &[]).await
}

/// `meterbook serve` with `args` added (see [`start_server`]).
pub async fn start_server_with(url: &str, port: u16, site: &Path, args: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meterbook"));
    // Only what the test says: no MB_ setting of the caller's shell.
    for (key, _) in std::env::vars() {
        if key.starts_with("MB_") && key != "MB_TEST_POSTGRES" {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--site-root",
        ])
        .arg(site)
        .args(args)
        .env("MB_DATABASE_URL", url)
        .env("MB_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Server(child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start on port {port}");
}

/// The server's exit status once it exits on its own within 10 s; `None` (after killing it) if
/// it does not.
pub async fn wait_for_exit(server: &mut Server) -> Option<ExitStatus> {
    for _ in 0..100 {
        if let Some(status) = server.try_wait().unwrap() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    None
}
