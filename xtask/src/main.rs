//! `cargo xtask run | test | bench`: the README's commands.
//!
//! Each installs what is missing on a fresh machine (the wasm32 target, cargo-leptos built with
//! `no_downloads`, the wasm-bindgen CLI of exactly the Cargo.lock version, end2end's npm packages
//! with binaryen's wasm-opt, Debian's chromium) and skips what is already there.

mod dist;

use std::env;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// cargo-fuzz version `cargo xtask fuzz` installs (built with the pinned toolchain; it runs the
/// targets with nightly, which libFuzzer's instrumentation needs).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The fuzz targets, one per parser of outside input (`fuzz/fuzz_targets/`).
const FUZZ_TARGETS: [&str; 10] = [
    "arm_query",
    "continuation_token",
    "explore_query",
    "odata",
    "ingest_body",
    "rate_card",
    "directory_file",
    "sign_in_form",
    "dates",
    "claim_rule",
];

/// cargo-leptos version that builds with the pinned toolchain (0.3.11's lock needs a newer rustc).
const CARGO_LEPTOS_VERSION: &str = "0.3.10";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("bench-portal") => bench_portal(),
        Some("bench-chargeback") => with_duckdb("bench_chargeback", &args[1..]),
        Some("bench-telemetry") => run_example("bench_telemetry", &args[1..]),
        Some("bench-shared") => run_example("bench_shared", &args[1..]),
        Some("bench-explore") => with_duckdb("bench_explore", &args[1..]),
        Some("bench-identity") => bench_identity(),
        Some("load") => load(&args[1..]),
        Some("end2end") => setup(true).and_then(|()| browser_tests()),
        Some("setup") => setup(true),
        Some("fuzz") => fuzz(&args[1..]),
        Some("api-contract") => api_contract_tests(),
        Some("sdk") => azure_sdk_tests(),
        Some("dist") => dist::dist(),
        _ => Err(
            "usage: cargo xtask run [meterbook serve args...] | test | end2end | api-contract | sdk | dist | bench [--database URL] [args...] | load [args...] | bench-chargeback [--records N] [--database URL] | bench-telemetry [--records N] | bench-shared [--database URL] | bench-explore [--tenants N] [--days D] [--database URL] | bench-identity | bench-portal | fuzz [--seconds N] [TARGET...] | setup"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Runs a command in the workspace root with `PATH` extended by cargo's and end2end's bins.
fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).current_dir(root()).env("PATH", tool_path());
    c
}

fn tool_path() -> String {
    let mut parts = vec![root()
        .join("end2end/node_modules/.bin")
        .display()
        .to_string()];
    if let Some(home) = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        parts.push(home.join("bin").display().to_string());
    }
    parts.push(env::var("PATH").unwrap_or_default());
    parts.join(":")
}

fn check(c: &mut Command) -> Result {
    let status = c.status().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{c:?} failed with {status}"))
    }
}

fn output_of(c: &mut Command) -> Option<String> {
    c.stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `cargo leptos build --release`, then a brotli and a gzip copy beside each of the site's
/// assets, which the server sends to browsers that accept them (built once, at the smallest
/// size: brotli quality 11, gzip level 9).
fn release_site() -> Result {
    check(&mut cmd("cargo", &["leptos", "build", "--release"]))?;
    let pkg = root().join("target/site/pkg");
    let entries = std::fs::read_dir(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let compressible = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "wasm" | "js" | "css" | "svg" | "html"));
        if !compressible {
            continue;
        }
        let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut raw.as_slice(), &mut br, &params)
            .map_err(|e| format!("brotli {}: {e}", path.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &raw).map_err(|e| e.to_string())?;
        let gz = gz.finish().map_err(|e| e.to_string())?;
        let name = path.display().to_string();
        std::fs::write(format!("{name}.br"), &br).map_err(|e| e.to_string())?;
        std::fs::write(format!("{name}.gz"), &gz).map_err(|e| e.to_string())?;
        println!(
            "    {}: {} B, brotli {} B, gzip {} B",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
            raw.len(),
            br.len(),
            gz.len()
        );
    }
    Ok(())
}

/// The name under `pkg/` of the site's `ext` file (`js`, `wasm`, `css`): content-hashed, as
/// cargo-leptos recorded in the site's `hash.txt`.
pub(crate) fn site_file(site: &std::path::Path, ext: &str) -> Result<String> {
    let hashes = site.join("hash.txt");
    let text =
        std::fs::read_to_string(&hashes).map_err(|e| format!("{}: {e}", hashes.display()))?;
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(e, _)| e.trim() == ext)
        .map(|(_, hash)| format!("meterbook.{}.{ext}", hash.trim()))
        .ok_or_else(|| format!("{} names no {ext} file", hashes.display()))
}

/// Installs the build tools the site needs; `for_tests` adds chromium.
fn setup(for_tests: bool) -> Result {
    step("checking build tools");
    let targets =
        output_of(&mut cmd("rustup", &["target", "list", "--installed"])).unwrap_or_default();
    if !targets
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        step("installing the wasm32-unknown-unknown target");
        check(&mut cmd(
            "rustup",
            &["target", "add", "wasm32-unknown-unknown"],
        ))?;
    }
    if output_of(&mut cmd("cargo", &["leptos", "--version"])).is_none() {
        step(&format!(
            "installing cargo-leptos {CARGO_LEPTOS_VERSION} (no_downloads; about 10 minutes)"
        ));
        check(&mut cmd(
            "cargo",
            &[
                "install",
                "cargo-leptos",
                "--version",
                CARGO_LEPTOS_VERSION,
                "--locked",
                "--features",
                "no_downloads",
            ],
        ))?;
    }
    let wanted = locked_version("wasm-bindgen")?;
    let have = output_of(&mut cmd("wasm-bindgen", &["--version"])).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(wanted.as_str()) {
        step(&format!(
            "installing wasm-bindgen-cli {wanted} (the Cargo.lock version)"
        ));
        let locked = check(&mut cmd(
            "cargo",
            &[
                "install",
                "wasm-bindgen-cli",
                "--version",
                &wanted,
                "--locked",
                "--force",
            ],
        ));
        if locked.is_err() {
            // Its lock file can name crate versions the registry no longer serves; resolve afresh.
            step("the locked install failed; installing with freshly resolved dependencies");
            check(&mut cmd(
                "cargo",
                &[
                    "install",
                    "wasm-bindgen-cli",
                    "--version",
                    &wanted,
                    "--force",
                ],
            ))?;
        }
    }
    let npm_packages = [".bin/wasm-opt", "@playwright/test", "oidc-provider"];
    if npm_packages
        .iter()
        .any(|p| !root().join("end2end/node_modules").join(p).exists())
    {
        step("installing end2end's npm packages (Playwright, binaryen's wasm-opt, oidc-provider)");
        check(cmd("npm", &["ci", "--no-audit", "--no-fund"]).current_dir(root().join("end2end")))?;
    }
    if for_tests && !Path::new("/usr/bin/chromium").exists() {
        step("installing Debian's chromium");
        check(&mut cmd("apt-get", &["update", "-qq"]))?;
        check(
            cmd("apt-get", &["install", "-y", "-qq", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    Ok(())
}

/// The version of `package` in Cargo.lock.
fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .ok_or_else(|| format!("{package} is not in Cargo.lock"))?
        + needle.len();
    let end = lock[start..].find('"').ok_or("Cargo.lock is malformed")?;
    Ok(lock[start..start + end].to_owned())
}

/// `cargo xtask run`: build the release site and serve it on the embedded SQLite store with demo
/// data. Extra arguments go to `meterbook serve`.
fn run(extra: &[String]) -> Result {
    setup(false)?;
    step("building Meterbook (release)");
    release_site()?;
    step("starting Meterbook");
    let mut serve = cmd(
        &root()
            .join("target/release/meterbook")
            .display()
            .to_string(),
        &["serve", "--demo"],
    );
    serve
        .args(extra)
        .env("LEPTOS_SITE_ROOT", root().join("target/site"));
    if env::var_os("MB_DATABASE_URL").is_none() {
        serve.env(
            "MB_DATABASE_URL",
            format!("sqlite://{}", root().join("meterbook.db").display()),
        );
    }
    check(&mut serve)
}

/// `cargo xtask test`: formatting, lints, unit and integration tests, then the browser tests
/// against a server this starts and stops itself.
fn test() -> Result {
    setup(true)?;
    step("cargo fmt --check");
    check(&mut cmd("cargo", &["fmt", "--all", "--", "--check"]))?;
    step("cargo clippy -D warnings");
    check(&mut cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ))?;
    step("unit and integration tests (SQLite)");
    // The identity tests run a real OpenID provider from end2end's npm packages, installed above.
    check(cmd("cargo", &["test", "--workspace"]).env("MB_REQUIRE_IDP", "1"))?;
    postgres_tests()?;
    api_contract_tests()?;
    azure_sdk_tests()?;
    browser_tests()?;
    // The release just built, packed and checked as an operator installs it.
    dist::dist()
}

/// A Python virtual environment `target/{name}` holding `requirement` (`package==version`, from
/// PyPI), made or completed only when it does not hold it yet.
fn python_venv(name: &str, requirement: &str) -> Result<PathBuf> {
    let venv = root().join("target").join(name);
    let pip = venv.join("bin/pip").display().to_string();
    let frozen = output_of(&mut cmd(&pip, &["freeze"]))
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace('_', "-");
    let installed = requirement
        .split_whitespace()
        .all(|r| frozen.contains(&r.to_ascii_lowercase().replace('_', "-")));
    if !installed {
        step(&format!(
            "installing {requirement} (PyPI, in target/{name})"
        ));
        check(&mut cmd(
            "python3",
            &["-m", "venv", &venv.display().to_string()],
        ))?;
        let mut install = cmd(&pip, &["install", "--quiet"]);
        install.args(requirement.split_whitespace());
        check(&mut install)?;
    }
    Ok(venv)
}

/// The schemathesis release the contract tests are pinned to (PyPI).
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Schemathesis (from PyPI, in a virtual environment of its own under `target/`) against a demo
/// server, from the server's own `/openapi.json`: every operation with bounded examples,
/// checking that no answer is a 5xx and that every answer's status, content type and body keep
/// to the document.
fn api_contract_tests() -> Result {
    let venv = python_venv(
        "schemathesis-venv",
        &format!("schemathesis=={SCHEMATHESIS_VERSION}"),
    )?;
    let schemathesis = venv.join("bin/schemathesis").display().to_string();
    step("API contract tests (schemathesis against /openapi.json)");
    check(&mut cmd("cargo", &["build", "-p", "meterbook-server"]))?;
    let (server, base_url, log) = demo_server("debug", &[])?;
    let operator = demo_operator_token(&log);
    // Without a working token every answer would be a documented 401, and nothing tested.
    let port = base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let probe = http_status(port, "/api/v1/webhooks", Some(&operator));
    if operator.is_empty() || probe != Some(200) {
        return Err(format!(
            "the demo operator's token does not work ({probe:?}); see {}",
            log.display()
        ));
    }
    let scratch = log
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(env::temp_dir);
    let result = check(
        cmd(
            &schemathesis,
            &[
                "run",
                &format!("{base_url}/openapi.json"),
                "--header",
                &format!("Authorization: Bearer {operator}"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                "25",
                "--workers",
                "2",
                "--seed",
                "20261201",
            ],
        )
        // Its cache goes with the demo server's files, not into the repository.
        .current_dir(scratch),
    );
    drop(server);
    result
}

/// The demo operator's API token, as `serve --demo` printed it to its log.
fn demo_operator_token(log: &Path) -> String {
    demo_token(log, "demo-operator")
}

/// The API token `serve --demo` printed to its log under a name starting with `name`.
fn demo_token(log: &Path, name: &str) -> String {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("mbt_")))
        .unwrap_or_default()
        .to_owned()
}

/// The Azure SDK release the SDK tests are pinned to (PyPI).
const AZURE_SDKS: &str =
    "azure-mgmt-resource-subscriptions==1.0.0 azure-identity==1.27.0 azure-mgmt-commerce==6.0.1";

/// Microsoft's Python SDK for ARM's subscriptions API (from PyPI, in a virtual environment of its
/// own under `target/`), pinned to api-version 2016-06-01, against a demo server: see
/// `end2end/sdk/subscriptions.py`.
fn azure_sdk_tests() -> Result {
    let venv = python_venv("azure-sdk-venv", AZURE_SDKS)?;
    let python = venv.join("bin/python").display().to_string();
    step("Azure SDK tests (azure-mgmt-resource-subscriptions, azure-identity and azure-mgmt-commerce against the demo)");
    check(&mut cmd("cargo", &["build", "-p", "meterbook-server"]))?;
    // The test identity provider (end2end/idp), as an AD FS the demo server trusts.
    let idp_dir = env::temp_dir().join(format!("meterbook-idp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&idp_dir);
    std::fs::create_dir_all(&idp_dir).map_err(|e| e.to_string())?;
    let (idp, issuer, ca) = test_idp(&idp_dir)?;
    // A second provider the server is not told of: its tokens must be refused.
    let stranger_dir = idp_dir.join("stranger");
    std::fs::create_dir_all(&stranger_dir).map_err(|e| e.to_string())?;
    let (stranger, stranger_issuer, stranger_ca) = test_idp(&stranger_dir)?;
    // One bundle trusting both (the Python SDK takes a single CA file).
    let bundle = idp_dir.join("ca-bundle.pem");
    let pems = [&ca, &stranger_ca].map(|f| std::fs::read_to_string(f).unwrap_or_default());
    std::fs::write(&bundle, pems.concat()).map_err(|e| e.to_string())?;
    let identity = idp_dir.join("identity.toml");
    std::fs::write(
        &identity,
        format!(
            "[[issuer]]\nname = \"adfs\"\nurl = \"{issuer}\"\naudiences = [\"api://meterbook\"]\n\
             ca-file = \"{}\"\n",
            ca.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let (server, base_url, log) = demo_server(
        "debug",
        &[
            "--identity-config".to_owned(),
            identity.display().to_string(),
        ],
    )?;
    let operator = demo_operator_token(&log);
    let tenant = demo_token(&log, "demo-tenant-");
    let script = |name: &str| root().join("end2end/sdk").join(name).display().to_string();
    let result = check(&mut cmd(
        &python,
        &[
            &script("subscriptions.py"),
            &base_url,
            &operator,
            &tenant,
            "00000000-0000-0000-0000-000000000000",
        ],
    ))
    .and_then(|()| {
        check(
            cmd(
                &python,
                &[
                    &script("identity.py"),
                    &base_url,
                    &operator,
                    &issuer,
                    &stranger_issuer,
                ],
            )
            .env("REQUESTS_CA_BUNDLE", &bundle)
            .env("SSL_CERT_FILE", &bundle),
        )
    });
    drop(server);
    drop(idp);
    drop(stranger);
    result
}

/// Starts end2end/idp/server.mjs (an OpenID provider, `oidc-provider`, as an AD FS on loopback)
/// keeping its state in `dir`: the process, its issuer URL and the CA file its TLS needs.
fn test_idp(dir: &Path) -> Result<(KillOnDrop, String, PathBuf)> {
    use std::io::BufRead;
    let mut child = cmd(
        "node",
        &[
            &root().join("end2end/idp/server.mjs").display().to_string(),
            "--port",
            "0",
            "--dir",
            &dir.display().to_string(),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .map_err(|e| format!("starting the test identity provider: {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("the provider has no stdout")?;
    let idp = KillOnDrop(child);
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let field = |name: &str| {
        let at = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
        line[at..].split('"').next().map(str::to_owned)
    };
    match (field("issuer"), field("ca")) {
        (Some(issuer), Some(ca)) => Ok((idp, issuer, PathBuf::from(ca))),
        _ => Err(format!(
            "the identity provider did not start: '{}'",
            line.trim()
        )),
    }
}

/// Builds the release site, the one `cargo xtask run` serves, and runs the Playwright tests
/// against it (`cargo xtask end2end` runs only this, after a portal change). Release it is: a
/// debug build writes extra hydration markers that can hide a mismatch the release build has.
fn browser_tests() -> Result {
    step("building the release site for the browser tests");
    release_site()?;
    end2end()
}

/// Where the integration tests find PostgreSQL when `MB_TEST_POSTGRES` does not say.
const DEFAULT_TEST_POSTGRES: &str = "postgres://root@127.0.0.1:5432/test";

/// The integration suite once more against PostgreSQL, each test in a schema of its own. Run when
/// `MB_TEST_POSTGRES` is set or a server answers on 127.0.0.1:5432; skipped, saying so, otherwise,
/// unless `MB_REQUIRE_POSTGRES=1` (as in CI) makes a missing PostgreSQL an error.
fn postgres_tests() -> Result {
    let url = match env::var("MB_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let reachable = std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], 5432).into(),
                std::time::Duration::from_secs(2),
            )
            .is_ok();
            if !reachable {
                if env::var("MB_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    return Err(
                        "PostgreSQL is required (MB_REQUIRE_POSTGRES=1) but nothing answers \
                                on 127.0.0.1:5432; set MB_TEST_POSTGRES to its URL"
                            .into(),
                    );
                }
                println!(
                    "\n==> SKIPPED the PostgreSQL run of the integration tests: nothing answers on \
                     127.0.0.1:5432 (set MB_TEST_POSTGRES=postgres://USER@HOST/DATABASE to run it)"
                );
                return Ok(());
            }
            DEFAULT_TEST_POSTGRES.to_owned()
        }
    };
    step(&format!("integration tests against PostgreSQL ({url})"));
    check(
        cmd(
            "cargo",
            &["test", "-p", "meterbook-server", "--test", "api"],
        )
        .env("MB_TEST_POSTGRES", &url)
        .env("MB_REQUIRE_IDP", "1"),
    )
}

/// Starts a demo server on a free port with a fresh database, runs Playwright, stops the server.
fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A demo server of the `profile` build (debug or release) on a free port with a fresh database:
/// the server (stopped when dropped), its URL and its log.
fn demo_server(profile: &str, extra: &[String]) -> Result<(KillOnDrop, String, PathBuf)> {
    let port = free_port()?;
    let dir = env::temp_dir().join(format!("meterbook-{profile}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let server = cmd(
        &root()
            .join(format!("target/{profile}/meterbook"))
            .display()
            .to_string(),
        &["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")],
    )
    .args(extra)
    .env(
        "MB_DATABASE_URL",
        format!("sqlite://{}", dir.join("demo.db").display()),
    )
    .env("LEPTOS_SITE_ROOT", root().join("target/site"))
    .stdout(log.try_clone().map_err(|e| e.to_string())?)
    .stderr(log)
    .spawn()
    .map_err(|e| format!("starting the server: {e}"))?;
    let mut server = KillOnDrop(server);
    wait_for_port(port, &mut server.0, &log_path)?;
    Ok((server, format!("http://127.0.0.1:{port}"), log_path))
}

/// Starts a demo server, runs Playwright against it, stops the server.
fn end2end() -> Result {
    step("browser tests (Playwright, Debian's chromium)");
    // The widget test serves "another site" on this port, which the server lets frame widgets.
    let embed_port = free_port()?;
    // People sign in through the test AD FS (end2end/idp) as well as with passwords.
    let idp_dir = env::temp_dir().join(format!("meterbook-e2e-idp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&idp_dir);
    std::fs::create_dir_all(&idp_dir).map_err(|e| e.to_string())?;
    let (idp, issuer, ca) = test_idp(&idp_dir)?;
    let secret = idp_dir.join("portal-secret");
    std::fs::write(&secret, "portal-secret\n").map_err(|e| e.to_string())?;
    let identity = idp_dir.join("identity.toml");
    std::fs::write(
        &identity,
        format!(
            "[[issuer]]\nname = \"adfs\"\nurl = \"{issuer}\"\naudiences = [\"api://meterbook\"]\n\
             ca-file = \"{}\"\nclient-id = \"meterbook-portal\"\nclient-secret-file = \"{}\"\n\
             display-name = \"Test AD FS\"\n",
            ca.display(),
            secret.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let (server, base_url, log) = demo_server(
        "release",
        &[
            "--widget-origins".to_owned(),
            format!("http://127.0.0.1:{embed_port}"),
            "--identity-config".to_owned(),
            identity.display().to_string(),
        ],
    )?;
    let operator = demo_operator_token(&log);
    let idp_origin = issuer.trim_end_matches("/adfs").to_owned();
    let result = check(
        cmd("npx", &["playwright", "test"])
            .current_dir(root().join("end2end"))
            .env("BASE_URL", &base_url)
            .env("EMBED_PORT", embed_port.to_string())
            .env("MB_OPERATOR_TOKEN", operator)
            .env("IDP_ORIGIN", idp_origin),
    );
    drop(server);
    drop(idp);
    result
}

/// `cargo xtask bench-portal`: code moved, first paint and time to interactive of the release
/// site's pages in Chromium (BENCHMARKS.md).
fn bench_portal() -> Result {
    setup(true)?;
    step("building the release site");
    release_site()?;
    let (server, base_url, _) = demo_server("release", &[])?;
    step("measuring code moved, first paint and time to interactive (Chromium)");
    let result = check(
        cmd("node", &["bench/portal.mjs"])
            .current_dir(root().join("end2end"))
            .env("BASE_URL", &base_url),
    );
    drop(server);
    result
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The status of `GET path` on 127.0.0.1:`port` (HTTP/1.1, std only: no curl needed).
fn http_status(port: u16, path: &str, bearer: Option<&str>) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn wait_for_port(port: u16, server: &mut Child, log: &Path) -> Result {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = server.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "the server exited with {status} before listening:\n{text}"
            ));
        }
        sleep(Duration::from_millis(200));
    }
    Err("the server did not listen within 120 s".into())
}

/// `cargo xtask bench`: the ingest and paging benchmark in release mode (see BENCHMARKS.md).
/// The store benchmark: SQLite by default, PostgreSQL with `--database postgres://...`.
fn bench(extra: &[String]) -> Result {
    let example = if extra.iter().any(|a| a == "--database") {
        "bench_postgres"
    } else {
        "bench"
    };
    run_example(example, extra)
}

/// `cargo xtask bench-identity`: what a directory token costs on the API against an `mbt_`
/// token (BENCHMARKS.md), with the test identity provider as the directory.
fn bench_identity() -> Result {
    setup(false)?;
    let dir = env::temp_dir().join(format!("meterbook-idp-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (idp, issuer, ca) = test_idp(&dir)?;
    let ca = ca.display().to_string();
    let result = run_example(
        "bench_identity",
        &["--issuer".to_owned(), issuer, "--ca".to_owned(), ca],
    );
    drop(idp);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Builds and runs a benchmark example of the server in release mode.
fn run_example(example: &str, extra: &[String]) -> Result {
    step(&format!(
        "building and running the {example} benchmark (release)"
    ));
    let mut c = cmd(
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "meterbook-server",
            "--example",
            example,
            "--",
        ],
    );
    c.args(extra);
    check(&mut c)
}

/// `cargo xtask bench-chargeback` and `bench-explore`, whose baselines are DuckDB over the same
/// data (BENCHMARKS.md). DuckDB comes from PyPI, installed for this user when missing.
fn with_duckdb(example: &str, extra: &[String]) -> Result {
    if !cmd("python3", &["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success())
    {
        step("installing DuckDB for Python (pip, this user)");
        check(&mut cmd(
            "python3",
            &["-m", "pip", "install", "--user", "--quiet", "duckdb"],
        ))?;
    }
    run_example(example, extra)
}

/// The load test: two release `meterbook serve` processes on one PostgreSQL.
fn load(extra: &[String]) -> Result {
    step("building the server and the load generator (release)");
    check(&mut cmd(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "meterbook-server",
            "--bin",
            "meterbook",
            "--example",
            "load",
        ],
    ))?;
    step("playing an hour of traffic against two servers");
    let target = root().join("target/release");
    let mut c = cmd(&target.join("examples/load").display().to_string(), &[]);
    c.arg("--server-bin")
        .arg(target.join("meterbook"))
        .args(extra);
    check(&mut c)
}

/// `cargo xtask fuzz [--seconds N] [TARGET...]`: installs a nightly toolchain and cargo-fuzz when
/// missing, then runs each target (all by default) for N seconds (60 by default), starting from
/// the committed seeds in `fuzz/seeds/` and keeping what it finds in `fuzz/corpus/`. A crash stops
/// the run with the input saved under `fuzz/artifacts/`.
fn fuzz(args: &[String]) -> Result {
    let mut seconds = 60u64;
    let mut targets: Vec<&str> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = rest
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds takes a whole number")?;
            }
            name => match FUZZ_TARGETS.iter().find(|t| **t == name) {
                Some(t) => targets.push(t),
                None => return Err(format!("no fuzz target '{name}': {FUZZ_TARGETS:?}")),
            },
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.to_vec();
    }
    step("checking fuzzing tools");
    let toolchains = output_of(&mut cmd("rustup", &["toolchain", "list"])).unwrap_or_default();
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        step("installing the nightly toolchain (libFuzzer's instrumentation needs it)");
        check(&mut cmd(
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal"],
        ))?;
    }
    if output_of(&mut cmd("cargo", &["fuzz", "--version"])).is_none() {
        step(&format!("installing cargo-fuzz {CARGO_FUZZ_VERSION}"));
        check(&mut cmd(
            "cargo",
            &[
                "install",
                "cargo-fuzz",
                "--version",
                CARGO_FUZZ_VERSION,
                "--locked",
            ],
        ))?;
    }
    let fuzz_dir = root().join("fuzz");
    for target in targets {
        step(&format!("fuzzing {target} for {seconds} s"));
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = fuzz_dir.join("seeds").join(target);
        let mut run = cmd(
            "cargo",
            &["+nightly", "fuzz", "run", "--fuzz-dir", "fuzz", target],
        );
        run.arg(&corpus);
        if seeds.is_dir() {
            run.arg(&seeds);
        }
        run.args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-rss_limit_mb=2048",
            "-max_len=65536",
            "-print_final_stats=1",
        ]);
        check(&mut run)?;
    }
    Ok(())
}
