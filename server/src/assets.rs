//! The site's built assets (`/pkg/`: the WebAssembly, its JS glue, the CSS), served as a
//! production site serves them: the brotli or gzip file `cargo xtask` wrote beside each at build
//! time when the browser accepts it (a 1 MB WebAssembly module crosses the wire as about a
//! third), and revalidated on every visit (`no-cache` with `Last-Modified`), so a repeat visit
//! moves no code, only a `304`.

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// `/pkg/` from `site_root/pkg`.
pub fn router<S: Clone + Send + Sync + 'static>(site_root: &str) -> Router<S> {
    let dir = std::path::Path::new(site_root).join("pkg");
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
    Router::new().nest_service(
        "/pkg",
        tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ))
            .service(files),
    )
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
