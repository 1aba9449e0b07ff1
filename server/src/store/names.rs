//! The numbers a store gives names (subscriptions, meters, resources), remembered in memory so a
//! batch of usage resolves its keys without asking the database for names it has seen before.
//!
//! Numbers are never reused or changed once committed, so a remembered number stays right; a
//! name another process numbered is simply not remembered yet and is looked up.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The three kinds of names usage rows refer to by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    Subscription,
    Meter,
    Resource,
}

impl NameKind {
    pub const ALL: [NameKind; 3] = [Self::Subscription, Self::Meter, Self::Resource];

    /// Position of the kind in [`NameKind::ALL`].
    pub fn index(self) -> usize {
        match self {
            Self::Subscription => 0,
            Self::Meter => 1,
            Self::Resource => 2,
        }
    }
}

/// The name of `kind` a usage record carries.
pub fn name_of(kind: NameKind, record: &meterbook_core::usage::UsageRecord) -> &str {
    match kind {
        NameKind::Subscription => record.subscription_id.as_str(),
        NameKind::Meter => &record.meter_id,
        NameKind::Resource => &record.instance.resource_uri,
    }
}

/// Committed name -> number maps, shared by every request of one store.
#[derive(Debug, Default)]
pub struct NameCache {
    maps: Mutex<[HashMap<String, i64>; 3]>,
}

impl NameCache {
    /// The numbers known for `names`, and the names not known yet (each once).
    pub fn lookup<'a>(
        &self,
        kind: NameKind,
        names: impl Iterator<Item = &'a str>,
    ) -> (HashMap<String, i64>, Vec<String>) {
        let maps = self
            .maps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let map = &maps[kind.index()];
        let mut known = HashMap::new();
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name) {
                continue;
            }
            match map.get(name) {
                Some(&id) => {
                    known.insert(name.to_owned(), id);
                }
                None => missing.push(name.to_owned()),
            }
        }
        (known, missing)
    }

    /// Remembers numbers once the transaction that gave them has committed.
    pub fn remember(&self, kind: NameKind, numbered: impl IntoIterator<Item = (String, i64)>) {
        let mut maps = self
            .maps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        maps[kind.index()].extend(numbered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_known_only_after_they_are_remembered() {
        let cache = NameCache::default();
        let (known, missing) = cache.lookup(NameKind::Meter, ["a", "b", "a"].into_iter());
        assert!(known.is_empty());
        assert_eq!(missing, vec!["a".to_string(), "b".to_string()]);
        cache.remember(NameKind::Meter, [("a".to_string(), 7)]);
        let (known, missing) = cache.lookup(NameKind::Meter, ["a", "b"].into_iter());
        assert_eq!(known["a"], 7);
        assert_eq!(missing, vec!["b".to_string()]);
        let (known, _) = cache.lookup(NameKind::Resource, ["a"].into_iter());
        assert!(known.is_empty(), "kinds are separate");
    }
}
