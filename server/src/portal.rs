//! The server's side of the portal: [`PortalData`] over the store.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use meterbook_app::portal_data::{BoxFuture, PortalData};
use meterbook_core::overview::DailyMeterTotal;

use crate::store::UsageStore;

pub struct StorePortal {
    pub store: Arc<dyn UsageStore>,
    pub open: bool,
}

impl PortalData for StorePortal {
    fn is_open(&self) -> bool {
        self.open
    }

    fn daily_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Vec<DailyMeterTotal>, String>> {
        Box::pin(async move {
            self.store.daily_totals(from, to).await.map_err(|e| {
                tracing::error!(error = ?e, "overview query failed");
                "the usage store is not available right now; try again shortly".to_owned()
            })
        })
    }
}
