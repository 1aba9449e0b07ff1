//! How the API hands over a file to save (exports, statements, rate cards).

use axum::http::header;

/// The headers of a CSV file to save as `filename`.
pub fn csv_download(filename: &str) -> [(header::HeaderName, String); 2] {
    [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ),
    ]
}
