//! The site's built assets (`/pkg/`: the WebAssembly, its JS glue, the CSS), served as a
//! production site serves them: the brotli or gzip file `cargo xtask` wrote beside each at build
//! time when the browser accepts it (a 1 MB WebAssembly module crosses the wire as about a
//! third), under content-hashed names that browsers keep for a year without asking again
//! (`immutable`). Anything else under `/pkg/` (a site built without hashes) is revalidated on
//! every visit (`no-cache` with `Last-Modified`), so a repeat visit moves no code either way.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;

/// What the build wrote about the site: the hashes cargo-leptos put into the names of the code
/// and the stylesheet, if it hashed them (`<site_root>/hash.txt`, lines like `wasm: <hash>`).
#[derive(Debug, Clone, Default)]
pub struct Site {
    hash_file: Option<PathBuf>,
    /// `meterbook.<hash>.<ext>` for each hashed file.
    hashed: Vec<String>,
}

impl Site {
    pub fn read(site_root: &str) -> Self {
        let hash_file = Path::new(site_root).join("hash.txt");
        let Ok(text) = std::fs::read_to_string(&hash_file) else {
            return Self::default();
        };
        Self {
            hashed: hashed_names(&text),
            // Absolute: Leptos joins it to the binary's directory, so a site root relative to
            // the working directory (the default, `target/site`) would point elsewhere.
            hash_file: Some(std::path::absolute(&hash_file).unwrap_or(hash_file)),
        }
    }

    /// The hash file for Leptos's script and stylesheet tags, which then name the hashed files.
    pub fn hash_file(&self) -> Option<&Path> {
        self.hash_file.as_deref()
    }

    fn is_hashed(&self, file_name: &str) -> bool {
        self.hashed.iter().any(|h| h == file_name)
    }
}

/// The hashed file names a hash file stands for (`js`, `wasm`, `css`; the split manifest and
/// loader keep their own names inside the code).
fn hashed_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(ext, hash)| (ext.trim(), hash.trim()))
        .filter(|(ext, hash)| matches!(*ext, "js" | "wasm" | "css") && !hash.is_empty())
        .map(|(ext, hash)| format!("meterbook.{hash}.{ext}"))
        .collect()
}

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// `/pkg/` from `site_root/pkg`.
pub fn router<S: Clone + Send + Sync + 'static>(site_root: &str, site: Site) -> Router<S> {
    let dir = Path::new(site_root).join("pkg");
    let files = ServeDir::new(&dir);
    let files = match stale_copy(&dir) {
        None => files.precompressed_br().precompressed_gzip(),
        Some(stale) => {
            // A site rebuilt without `cargo xtask` keeps the old copies: never send those.
            tracing::warn!(
                file = %stale.display(),
                "a compressed copy is older than its asset; sending assets uncompressed \
                 (rebuild with cargo xtask to compress them again)"
            );
            files
        }
    };
    let site = std::sync::Arc::new(site);
    Router::new().nest_service(
        "/pkg",
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(
                move |request: Request, next: Next| {
                    let site = site.clone();
                    async move { cache_control(&site, request, next).await }
                },
            ))
            .service(files),
    )
}

/// A year for a hashed name that was found (its content can never change), revalidation for
/// everything else, a miss included (the file may appear with the next build).
async fn cache_control(site: &Site, request: Request, next: Next) -> Response {
    let file = request.uri().path().rsplit('/').next().unwrap_or_default();
    let hashed = site.is_hashed(file);
    let mut response = next.run(request).await;
    let value = if hashed && response.status().is_success() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    response.headers_mut().insert(header::CACHE_CONTROL, value);
    response
}

/// A `.br` or `.gz` copy older than the asset beside it, if there is one.
fn stale_copy(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("br" | "gz")))
        .find(|copy| {
            let asset = copy.with_extension("");
            match (modified(copy), modified(&asset)) {
                (Some(copied), Some(built)) => copied < built,
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_file_names_the_hashed_code_and_stylesheet() {
        let names = hashed_names("js: AbC-1\nwasm: x_Y2\ncss: z3\nmanifest: m4\n\n");
        assert_eq!(
            names,
            [
                "meterbook.AbC-1.js",
                "meterbook.x_Y2.wasm",
                "meterbook.z3.css"
            ]
        );
        assert!(hashed_names("wasm:\n").is_empty());
    }

    #[tokio::test]
    async fn hashed_files_are_kept_a_year_and_the_rest_revalidated() {
        use axum::body::Body;
        use tower::ServiceExt;
        let root = tempfile::tempdir().expect("dir");
        let pkg = root.path().join("pkg");
        std::fs::create_dir(&pkg).expect("pkg");
        std::fs::write(root.path().join("hash.txt"), "js: h1\nwasm: h2\ncss: h3\n")
            .expect("hashes");
        for name in ["meterbook.h2.wasm", "meterbook.wasm"] {
            std::fs::write(pkg.join(name), b"\0asm").expect("asset");
        }
        let site_root = root.path().to_str().expect("utf-8");
        let site = Site::read(site_root);
        assert_eq!(
            site.hash_file(),
            Some(root.path().join("hash.txt").as_path())
        );
        let app: Router = router(site_root, site);
        let get = |path: &'static str| {
            let app = app.clone();
            async move {
                let response = app
                    .oneshot(Request::get(path).body(Body::empty()).expect("request"))
                    .await
                    .expect("response");
                let cache = response.headers()[header::CACHE_CONTROL].clone();
                (response.status().as_u16(), cache)
            }
        };
        assert_eq!(get("/pkg/meterbook.h2.wasm").await, (200, IMMUTABLE));
        assert_eq!(get("/pkg/meterbook.wasm").await, (200, REVALIDATE));
        // A hashed name the build did not write is not cached, so the next build can serve it.
        assert_eq!(get("/pkg/meterbook.h1.js").await, (404, REVALIDATE));
        assert!(Site::read(pkg.to_str().expect("utf-8"))
            .hash_file()
            .is_none());
    }

    #[test]
    fn a_relative_site_root_still_names_its_hash_file_absolutely() {
        // Leptos reads the hash file relative to the binary, not to the working directory.
        let root = tempfile::tempdir_in(".").expect("dir");
        std::fs::write(root.path().join("hash.txt"), "wasm: h2\n").expect("hashes");
        let relative = root
            .path()
            .file_name()
            .expect("name")
            .to_str()
            .expect("utf-8");
        let site = Site::read(relative);
        let hash_file = site.hash_file().expect("found");
        assert!(hash_file.is_absolute(), "{hash_file:?}");
        assert_eq!(
            std::fs::read_to_string(hash_file).expect("readable"),
            "wasm: h2\n"
        );
    }

    #[test]
    fn a_copy_older_than_its_asset_is_found() {
        let dir = tempfile::tempdir().expect("dir");
        let asset = dir.path().join("meterbook.wasm");
        std::fs::write(dir.path().join("meterbook.wasm.br"), b"old").expect("write");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&asset, b"new").expect("write");
        assert_eq!(
            stale_copy(dir.path()),
            Some(dir.path().join("meterbook.wasm.br"))
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("meterbook.wasm.br"), b"fresh").expect("write");
        assert_eq!(stale_copy(dir.path()), None);
    }
}
