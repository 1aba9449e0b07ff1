//! How a resource's value travels from the server-rendered page to the browser.
//!
//! Server functions read their JSON answers from bytes (`serde_json::from_slice`), while
//! Leptos's default resource codec reads page-embedded values from a `&str`
//! (`serde_json::from_str`). serde generates a separate deserializer per reader, so every type
//! that arrives both ways was compiled twice into the browser bundle. [`JsonBytes`] reads the
//! embedded values from bytes too, so each type's deserializer is there once.

use leptos::prelude::Resource;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// JSON, decoded from the bytes of the string, like server-function answers.
pub struct JsonBytes;

impl<T: Serialize> Encoder<T> for JsonBytes {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for JsonBytes {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(encoded: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(encoded.as_bytes())
    }
}

/// `Resource::new` with [`JsonBytes`]: loads with `fetcher` whenever `source` changes; the first
/// value is rendered on the server and read from the page by the browser.
#[track_caller]
pub fn page_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, JsonBytes>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + Clone + PartialEq + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
