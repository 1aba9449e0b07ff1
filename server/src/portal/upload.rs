//! A form's file upload with the session's CSRF token (multipart fields `csrf` and the file),
//! read the same for every page that takes one: the rate card on the costs page, a directory
//! file on the tenants page.

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::Multipart;
use meterbook_app::viewer::Viewer;

/// The uploaded file, as sent.
pub(super) struct Upload {
    pub file_name: String,
    pub bytes: Bytes,
}

/// The file in field `field` of `multipart`, posted by `viewer` with their CSRF token, of at most
/// `max_bytes`; or what to tell the person (`what` names the file wanted: "a rate card file").
pub(super) async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
    viewer: &Viewer,
    field: &str,
    max_bytes: usize,
    what: &str,
) -> Result<Upload, String> {
    let megabytes = max_bytes / (1024 * 1024);
    let unreadable = || format!("The upload could not be read (at most {megabytes} MB)");
    let Ok(mut multipart) = multipart else {
        return Err("The upload was not a form with a file".to_owned());
    };
    let (mut csrf, mut file) = (None, None);
    while let Some(part) = multipart.next_field().await.map_err(|_| unreadable())? {
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().unwrap_or_default().to_owned();
        let bytes = part.bytes().await.map_err(|_| unreadable())?;
        if name == "csrf" {
            csrf = Some(String::from_utf8_lossy(&bytes).into_owned());
        } else if name == field {
            file = Some(Upload { file_name, bytes });
        }
    }
    if csrf.as_deref() != Some(viewer.csrf_token.as_str()) {
        return Err("The form has expired; reload the page and upload again".to_owned());
    }
    let upload = file
        .filter(|f| !f.bytes.is_empty())
        .ok_or_else(|| format!("Choose {what} to upload"))?;
    if upload.bytes.len() > max_bytes {
        return Err(format!("The file is larger than {megabytes} MB"));
    }
    Ok(upload)
}
