//! `cargo xtask dist`: the release archive an operator installs, checked before it is packed.
//!
//! `target/dist/meterbook-VERSION-ARCH-linux.tar.gz` holds `bin/meterbook`, the built `site/`,
//! `etc/meterbook.toml` (a production configuration), `etc/meterbook.example.toml` (every key,
//! written by the binary itself), `systemd/meterbook.service` and `INSTALL.md`. Before packing,
//! the staged copy must pass `config check` on its own configuration, `systemd-analyze verify`
//! (where systemd's tools exist), and serve the demo and its site from the staged files.

use std::path::Path;

use crate::{check, cmd, free_port, root, step, wait_for_port, KillOnDrop, Result};

/// How to install the archive, shipped inside it.
const INSTALL: &str = "# Installing Meterbook

1. Unpack into /opt/meterbook and add the service's user:
   `sudo mkdir -p /opt/meterbook && sudo tar -xzf meterbook-*.tar.gz -C /opt/meterbook --strip-components=1`
   `sudo useradd --system --home-dir /var/lib/meterbook --shell /usr/sbin/nologin meterbook`
2. Configure: `sudo install -D -m 0644 /opt/meterbook/etc/meterbook.toml /etc/meterbook/meterbook.toml`,
   then edit it (`etc/meterbook.example.toml` lists every key). Secrets (`MB_SECRET`, a database
   password) go in `/etc/meterbook/meterbook.env` (mode 0600), read by the service.
3. Check: `/opt/meterbook/bin/meterbook --config /etc/meterbook/meterbook.toml config check`
4. Run: `sudo cp /opt/meterbook/systemd/meterbook.service /etc/systemd/system/ &&
   sudo systemctl daemon-reload && sudo systemctl enable --now meterbook`
5. The first start prints the first operator's password to the journal
   (`journalctl -u meterbook`). Probes: `GET /healthz`, `GET /readyz`; metrics on `metrics-addr`.
6. Admin commands run as the service's user, so what they write stays its own:
   `sudo -u meterbook /opt/meterbook/bin/meterbook --config /etc/meterbook/meterbook.toml user list`
";

pub fn dist() -> Result {
    crate::setup(false)?;
    step("building the release binary and site");
    crate::release_site()?;
    let binary = root().join("target/release/meterbook");
    let version = crate::output_of(&mut cmd(&binary.display().to_string(), &["--version"]))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .ok_or("the release binary does not run")?;
    let name = format!("meterbook-{version}-{}-linux", std::env::consts::ARCH);
    let out = root().join("target/dist");
    let staged = out.join(&name);
    let _ = std::fs::remove_dir_all(&staged);
    step(&format!("staging {}", staged.display()));
    for dir in ["bin", "etc", "systemd"] {
        std::fs::create_dir_all(staged.join(dir)).map_err(|e| e.to_string())?;
    }
    copy(&binary, &staged.join("bin/meterbook"))?;
    check(&mut cmd(
        "cp",
        &[
            "-Rp",
            &root().join("target/site").display().to_string(),
            &staged.join("site").display().to_string(),
        ],
    ))?;
    copy(
        &root().join("packaging/meterbook.toml"),
        &staged.join("etc/meterbook.toml"),
    )?;
    copy(
        &root().join("packaging/meterbook.service"),
        &staged.join("systemd/meterbook.service"),
    )?;
    let example = crate::output_of(&mut cmd(
        &staged.join("bin/meterbook").display().to_string(),
        &["config", "example"],
    ))
    .ok_or("meterbook config example failed")?;
    write(&staged.join("etc/meterbook.example.toml"), &example)?;
    write(&staged.join("INSTALL.md"), INSTALL)?;

    check_staged(&staged)?;

    let archive = out.join(format!("{name}.tar.gz"));
    step(&format!("packing {}", archive.display()));
    check(&mut cmd(
        "tar",
        &[
            "-czf",
            &archive.display().to_string(),
            "-C",
            &out.display().to_string(),
            &name,
        ],
    ))?;
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    println!("\n{} ({:.1} MB)", archive.display(), size as f64 / 1e6);
    Ok(())
}

/// The staged release, used as an operator would: its configuration checks, its unit verifies,
/// and it serves a demo with its own site.
fn check_staged(staged: &Path) -> Result {
    let meterbook = staged.join("bin/meterbook").display().to_string();
    step("checking the packaged configuration (config check)");
    check(
        cmd(
            &meterbook,
            &[
                "--config",
                &staged.join("etc/meterbook.toml").display().to_string(),
                "config",
                "check",
            ],
        )
        .env_remove("MB_DATABASE_URL"),
    )?;
    if crate::output_of(&mut cmd("systemd-analyze", &["--version"])).is_none() {
        println!("\n==> SKIPPED verifying the systemd unit: systemd-analyze is not installed");
    } else {
        step("verifying the systemd unit (systemd-analyze)");
        // The unit names /opt/meterbook; verify a copy that names the staged binary.
        let unit = std::fs::read_to_string(staged.join("systemd/meterbook.service"))
            .map_err(|e| e.to_string())?
            .replace("/opt/meterbook/bin/meterbook", &meterbook);
        let scratch = std::env::temp_dir().join(format!("meterbook-unit-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
        let copy = scratch.join("meterbook.service");
        write(&copy, &unit)?;
        check(&mut cmd(
            "systemd-analyze",
            &["verify", &copy.display().to_string()],
        ))?;
        // The exposure score, for the record (the review needs no running systemd).
        let _ = cmd(
            "systemd-analyze",
            &[
                "security",
                "--offline=true",
                "--no-pager",
                &copy.display().to_string(),
            ],
        )
        .stdout(std::process::Stdio::null())
        .status();
        let _ = std::fs::remove_dir_all(&scratch);
    }
    step("serving the demo from the staged files");
    let port = free_port()?;
    let scratch = std::env::temp_dir().join(format!("meterbook-dist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let log_path = scratch.join("server.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let server = cmd(
        &meterbook,
        &[
            "serve",
            "--demo",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--site-root",
            &staged.join("site").display().to_string(),
            "--database",
            &format!("sqlite://{}", scratch.join("demo.db").display()),
        ],
    )
    .current_dir(&scratch)
    .stdout(log.try_clone().map_err(|e| e.to_string())?)
    .stderr(log)
    .spawn()
    .map_err(|e| format!("starting the staged server: {e}"))?;
    let mut server = KillOnDrop(server);
    wait_for_port(port, &mut server.0, &log_path)?;
    let fetched = |path: &str| crate::http_status(port, path, None);
    let ready = fetched("/readyz");
    let script = fetched(&format!(
        "/pkg/{}",
        crate::site_file(&staged.join("site"), "js")?
    ));
    let signin = fetched("/sign-in");
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    match (ready, script, signin) {
        (Some(200), Some(200), Some(200)) => Ok(()),
        other => Err(format!(
            "the staged server did not serve /readyz, its site and /sign-in: {other:?}"
        )),
    }
}

fn copy(from: &Path, to: &Path) -> Result {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn write(to: &Path, text: &str) -> Result {
    std::fs::write(to, text).map_err(|e| format!("writing {}: {e}", to.display()))
}
