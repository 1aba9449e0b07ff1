//! The few places where the SQL of SQLite and PostgreSQL differs, named once: the usage reads
//! and the explorer take a [`Dialect`] and ask it, and write their [`Statement`]s in it.

use sqlx::{Arguments, Database, Encode, Type};

/// What SQL a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Makes text compare byte by byte, as Rust's strings (and so continuation keys) do.
    pub(crate) fn bytewise(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " COLLATE \"C\"",
        }
    }

    /// The FROM item for `usage_records u`; `one_tenant` for reads of given subscriptions, led
    /// by the subscription index. SQLite is told which index to walk: the key index's usage-time
    /// window, with usage_records the outer loop.
    pub(crate) fn usage(self, one_tenant: bool) -> &'static str {
        match (self, one_tenant) {
            (Self::Sqlite, false) => "usage_records u INDEXED BY usage_records_key",
            (Self::Sqlite, true) => "usage_records u INDEXED BY usage_records_by_subscription",
            (Self::Postgres, _) => "usage_records u",
        }
    }

    /// The join keyword: SQLite's CROSS JOIN fixes the join order; PostgreSQL plans its own.
    pub(crate) fn join(self) -> &'static str {
        match self {
            Self::Sqlite => "CROSS JOIN",
            Self::Postgres => "JOIN",
        }
    }
}

/// SQL text with its bound values, placeholders written in the dialect's style. Code generic over
/// the database builds this rather than sqlx's `QueryBuilder`, whose queries borrow the builder
/// for as long as their arguments live, which a generic caller cannot satisfy.
pub(crate) struct Statement {
    dialect: Dialect,
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Real(f64),
    Text(String),
}

impl Statement {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            text: String::new(),
            binds: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    pub(crate) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                let n = self.binds.len();
                self.text.push_str(&format!("${n}"));
            }
        }
        self
    }

    pub(crate) fn bind_text(&mut self, value: &str) -> &mut Self {
        self.bind(Bind::Text(value.to_owned()))
    }

    pub(crate) fn bind_int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    /// ` IN (1, 2, 3)` of numbers the store itself assigned (written inline, never from input).
    pub(crate) fn numbers(&mut self, numbers: &[i64]) -> &mut Self {
        self.push(&in_list(numbers))
    }
}

/// ` IN (1, 2, 3)`: numbers are written inline (the store's own, or the period's seconds).
pub(crate) fn in_list(numbers: &[i64]) -> String {
    let list: Vec<String> = numbers.iter().map(i64::to_string).collect();
    format!(" IN ({})", list.join(", "))
}

/// A statement's values as the database's arguments, for `sqlx::query_with` and
/// `sqlx::query_as_with`.
pub(crate) fn arguments<'q, DB>(binds: &[Bind]) -> Result<DB::Arguments<'q>, sqlx::Error>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    f64: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
{
    let mut arguments = DB::Arguments::default();
    for bind in binds {
        match bind {
            Bind::Int(v) => arguments.add(*v),
            Bind::Real(v) => arguments.add(*v),
            Bind::Text(v) => arguments.add(v.clone()),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(arguments)
}
