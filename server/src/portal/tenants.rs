//! The portal's tenant directory (`/tenants`, operators only): its pages through [`PortalData`],
//! and the two forms it posts, one subscription (`/tenants/save`) and an import
//! (`/tenants/import`). Both answer by sending the browser back to the page with what was done
//! or why not, and change the directory with its audit entry, as the command line does.

use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use meterbook_app::portal::views::{DirectoryRequest, DirectoryRow, DirectoryView};
use meterbook_app::portal::PortalError;
use meterbook_app::viewer::{ClientAddress, Viewer};
use meterbook_core::directory::{
    split_list, tags_as_text, tags_of_text, DirectoryEntry, EntryDraft, SubscriptionState,
};
use meterbook_core::SubscriptionId;

use super::upload::read_upload;
use super::{store_failed, Portal};
use crate::audit::{self, Event};
use crate::directory_import::{self, ImportError, ImportFormat};
use crate::state::AppState;
use crate::store::EntrySource;

/// Subscriptions per page.
const PAGE: usize = 50;
/// The largest directory file the page takes.
const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;
const OPERATORS_ONLY: &str = "Only operators keep the tenant directory";

fn row_of(e: &DirectoryEntry) -> DirectoryRow {
    DirectoryRow {
        id: e.subscription_id.to_string(),
        name: e.display_name.clone(),
        owner: e.owner.clone(),
        state: e.state.to_string(),
        offer: e.offer.as_ref().map(|o| o.to_string()).unwrap_or_default(),
        plans: e
            .plans
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        tags: tags_as_text(&e.tags).replace(';', "; "),
    }
}

pub(super) async fn directory(
    portal: &Portal,
    viewer: &Viewer,
    request: DirectoryRequest,
) -> Result<DirectoryView, PortalError> {
    if !viewer.is_operator() {
        return Err(PortalError::Forbidden(OPERATORS_ONLY.to_owned()));
    }
    let invalid = |e: String| PortalError::Invalid(e);
    let after = request
        .after
        .as_deref()
        .map(SubscriptionId::parse)
        .transpose()
        .map_err(invalid)?;
    let store = portal.store.as_ref();
    // One more than a page says whether another follows.
    let mut entries = match request.find.as_deref() {
        Some(find) => store.directory_find(find, after.as_ref(), PAGE + 1).await,
        None => store.directory_page(None, after.as_ref(), PAGE + 1).await,
    }
    .map_err(store_failed)?;
    let more = entries.len() > PAGE;
    entries.truncate(PAGE);
    let editing = match request.edit.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            let id = SubscriptionId::parse(raw).map_err(invalid)?;
            Some(
                store
                    .directory_entry(&id)
                    .await
                    .map_err(store_failed)?
                    .ok_or_else(|| {
                        PortalError::NotFound(format!("The directory does not know {id}"))
                    })?,
            )
        }
    };
    Ok(DirectoryView {
        next_after: more
            .then(|| entries.last().map(|e| e.subscription_id.to_string()))
            .flatten(),
        rows: entries.iter().map(row_of).collect(),
        find: request.find,
        editing_known: editing.is_some(),
        editing: editing
            .as_ref()
            .map(row_of)
            .unwrap_or_else(|| DirectoryRow {
                state: SubscriptionState::Enabled.to_string(),
                ..DirectoryRow::default()
            }),
        states: SubscriptionState::ALL.map(|s| s.to_string()).to_vec(),
        csrf_token: viewer.csrf_token.clone(),
    })
}

/// Sends the browser back to the tenants page with `query`.
fn back(query: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(query).unwrap_or_default();
    Redirect::to(&format!("/tenants?{query}")).into_response()
}

/// The edit form's fields.
#[derive(serde::Deserialize)]
pub struct SaveForm {
    csrf: String,
    id: String,
    name: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    offer: String,
    #[serde(default)]
    plans: String,
    #[serde(default)]
    tags: String,
}

/// `POST /tenants/save` (a form): adds a subscription, or replaces the one the directory knows.
pub async fn save(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(Extension(viewer)) = viewer else {
        return Redirect::to("/sign-in?next=%2Ftenants").into_response();
    };
    if !viewer.is_operator() {
        return back(&[("error", OPERATORS_ONLY)]);
    }
    let Ok(form) = serde_urlencoded::from_bytes::<SaveForm>(&body) else {
        return back(&[("error", "The form was incomplete")]);
    };
    if form.csrf != viewer.csrf_token {
        return back(&[(
            "error",
            "The form has expired; reload the page and try again",
        )]);
    }
    let refused = |e: String| back(&[("error", &e), ("edit", form.id.trim())]);
    let tags = match tags_of_text(&form.tags) {
        Ok(tags) => tags,
        Err(e) => return refused(format!("Tags: {e}")),
    };
    let entry = match (EntryDraft {
        subscription_id: Some(form.id.clone()),
        display_name: Some(form.name.clone()),
        owner: Some(form.owner.clone()),
        state: Some(form.state.clone()),
        offer: Some(form.offer.clone()),
        plans: Some(split_list(&form.plans)),
        tenant_id: None,
        delegated_provider: None,
        tags: Some(tags),
    })
    .into_entry(None)
    {
        Ok(entry) => entry,
        Err(e) => return refused(e),
    };
    let address = address.map(|a| a.0 .0.clone()).unwrap_or_default();
    let actor = format!("user:{}", viewer.username);
    let saved = async {
        // The form does not carry the directory tenant or the reseller: they stay as they are.
        let stored = state.store.directory_entry(&entry.subscription_id).await?;
        let entry = DirectoryEntry {
            tenant_id: stored.as_ref().and_then(|s| s.tenant_id.clone()),
            delegated_provider: stored.as_ref().and_then(|s| s.delegated_provider.clone()),
            ..entry
        };
        let mut changes = state.store.begin().await?;
        let outcome = changes
            .put_directory_entry(&entry, EntrySource::Local)
            .await?;
        if let Some(action) = outcome.audited_as() {
            audit::record(
                &mut changes,
                Event {
                    actor: &actor,
                    action,
                    target: entry.subscription_id.as_str(),
                    address: &address,
                    detail: &entry.display_name,
                },
            )
            .await?;
        }
        changes.commit().await?;
        Ok::<_, crate::store::StoreError>(entry)
    };
    match saved.await {
        Ok(entry) => back(&[
            (
                "saved",
                &format!("{} ({})", entry.display_name, entry.subscription_id),
            ),
            ("find", &entry.display_name),
        ]),
        Err(e) => back(&[("error", &store_failed(e).to_string())]),
    }
}

/// `POST /tenants/import` (multipart: `csrf`, and the file as `file`).
pub async fn import(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let refused = |message: &str| back(&[("error", message)]);
    let Some(Extension(viewer)) = viewer else {
        return Redirect::to("/sign-in?next=%2Ftenants").into_response();
    };
    if !viewer.is_operator() {
        return refused(OPERATORS_ONLY);
    }
    let upload = match read_upload(
        multipart,
        &viewer,
        "file",
        MAX_IMPORT_BYTES,
        "a directory file (.csv or .json)",
    )
    .await
    {
        Ok(upload) => upload,
        Err(e) => return refused(&e),
    };
    let (file_name, bytes) = (upload.file_name, upload.bytes);
    let Some(format) = ImportFormat::of_file_name(&file_name) else {
        return refused("The file's name must end in .csv or .json");
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return refused("The file is not UTF-8 text");
    };
    let address = address.map(|a| a.0 .0.clone()).unwrap_or_default();
    let actor = format!("user:{}", viewer.username);
    match directory_import::import(
        state.store.as_ref(),
        text,
        format,
        &file_name,
        &actor,
        &address,
    )
    .await
    {
        Ok(done) => back(&[(
            "imported",
            &format!(
                "{file_name}: {} read, {} added, {} changed",
                done.read, done.added, done.changed
            ),
        )]),
        Err(ImportError::Refused(e)) => {
            refused(&format!("{file_name} was refused, nothing changed: {e}"))
        }
        Err(ImportError::Store(e)) => refused(&store_failed(e).to_string()),
    }
}
