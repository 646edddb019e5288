//! A scoped, filtered, paged list: the one shape every list of records takes
//! (participants, the consent register, re-consent, audit entries, and what
//! fieldwork, workshops and instruments list next). The study, the reader's
//! sites and the filters are conditions in SQL; pages are cut by keyset on a
//! time-ordered key (a UUID v7 id, or the audit sequence), so a page costs
//! the same on the first day and with fifty thousand rows.
//!
//! SQL is built only from `&'static str` fragments; every value is bound.

use std::borrow::Cow;
use std::fmt::Write;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult};

use sqlx::any::AnyRow;
use sqlx::AnyPool;

use crate::error::AppError;
use crate::ids::SiteId;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A key a list is ordered and cut by.
pub trait Key: Clone + Sized {
    fn parse_key(raw: &str) -> Option<Self>;
    fn to_param(&self) -> String;
    fn bind(&self) -> Bind;
}

impl Key for i64 {
    fn parse_key(raw: &str) -> Option<Self> {
        raw.parse().ok().filter(|n: &i64| *n >= 0)
    }

    fn to_param(&self) -> String {
        self.to_string()
    }

    fn bind(&self) -> Bind {
        Bind::Int(*self)
    }
}

macro_rules! id_keys {
    ($($name:ident),*) => {$(
        impl Key for crate::ids::$name {
            fn parse_key(raw: &str) -> Option<Self> {
                Self::parse(raw)
            }

            fn to_param(&self) -> String {
                self.to_string()
            }

            fn bind(&self) -> Bind {
                Bind::Text(self.to_string())
            }
        }
    )*};
}

id_keys!(
    ParticipantId,
    ConsentRecordId,
    WithdrawalId,
    ResponseId,
    EncounterId,
    QuoteId
);

/// A UUID of one of several kinds of record listed together.
impl Key for String {
    fn parse_key(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw)
            .ok()
            .map(|u| u.hyphenated().to_string())
    }

    fn to_param(&self) -> String {
        self.clone()
    }

    fn bind(&self) -> Bind {
        Bind::Text(self.clone())
    }
}

/// Which page: the rows after `after` (in the list's order), at most `limit`.
#[derive(Clone, Debug)]
pub struct PageRequest<K> {
    pub after: Option<K>,
    pub limit: i64,
}

impl<K: Key> PageRequest<K> {
    pub fn first() -> Self {
        PageRequest {
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// From an API request's `after` and `limit`, each already checked by
    /// its type.
    pub fn new(after: Option<K>, limit: Option<Limit>) -> Self {
        PageRequest {
            after,
            limit: limit.map_or(DEFAULT_LIMIT, |l| l.0),
        }
    }

    /// From a page's `after` query parameter (pages show the default number).
    pub fn parse(after: Option<&str>) -> Result<Self, AppError> {
        let after = match after.filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => Some(K::parse_key(raw).ok_or_else(|| {
                AppError::BadRequest(
                    "`after` is not a position in this list: use the `next` link as given.".into(),
                )
            })?),
        };
        Ok(PageRequest::new(after, None))
    }
}

/// The API's `limit` parameter: how many items a page holds, 1 to 200
/// (50 when not given). The bounds are in the published schema too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(i64);

// `Type` is named in full: imported, its `is_empty` would shadow `str::is_empty`
// on `&&str` in this module.
impl poem_openapi::types::Type for Limit {
    const IS_REQUIRED: bool = true;
    type RawValueType = i64;
    type RawElementValueType = i64;

    fn name() -> Cow<'static, str> {
        "integer(int64)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX_LIMIT as f64),
            default: Some(DEFAULT_LIMIT.into()),
            ..MetaSchema::new_with_format("integer", "int64")
        }))
    }

    fn as_raw_value(&self) -> Option<&i64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a i64> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromParameter for Limit {
    fn parse_from_parameter(raw: &str) -> ParseResult<Self> {
        raw.parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .map(Limit)
            .ok_or_else(|| ParseError::custom(format!("`limit` is from 1 to {MAX_LIMIT}.")))
    }
}

/// One page of a list, and where the next one starts (None on the last page).
#[derive(Clone, Debug)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

/// The sites whose rows a reader may see in a study.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteScope {
    All,
    Only(Vec<SiteId>),
}

/// A bound value.
#[derive(Clone, Debug)]
pub enum Bind {
    Text(String),
    Int(i64),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Bind {
        Bind::Text(s.to_owned())
    }
}

impl From<i64> for Bind {
    fn from(n: i64) -> Bind {
        Bind::Int(n)
    }
}

/// The order of a list by its key.
#[derive(Clone, Copy, Debug)]
pub enum Order {
    /// Oldest first.
    Ascending,
    /// Newest first.
    Descending,
}

/// A query assembled from fixed fragments and bound values.
pub struct ListQuery {
    sql: String,
    binds: Vec<Bind>,
}

impl ListQuery {
    /// Starts with a statement whose WHERE clause later conditions extend
    /// with ` AND ...`.
    pub fn new(select: &'static str) -> ListQuery {
        ListQuery {
            sql: select.to_owned(),
            binds: Vec::new(),
        }
    }

    pub fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.sql.push_str(fragment);
        self
    }

    pub fn bind(&mut self, value: impl Into<Bind>) -> &mut Self {
        self.binds.push(value.into());
        write!(self.sql, "${}", self.binds.len()).expect("writing to a String");
        self
    }

    /// ` AND <column> = <value>`, when there is a value.
    pub fn eq(&mut self, column: &'static str, value: Option<impl Into<Bind>>) -> &mut Self {
        if let Some(v) = value {
            self.push(" AND ").push(column).push(" = ").bind(v);
        }
        self
    }

    /// ` AND <column> IN (<the sites>)`; nothing for every site, and no row
    /// at all for an empty list.
    pub fn sites(&mut self, column: &'static str, scope: &SiteScope) -> &mut Self {
        match scope {
            SiteScope::All => self,
            SiteScope::Only(sites) => self.any_of(column, sites.iter().map(SiteId::as_str)),
        }
    }

    /// ` AND <column> IN (<values>)`; no row at all for no values.
    pub fn any_of<'v>(
        &mut self,
        column: &'static str,
        values: impl IntoIterator<Item = &'v str>,
    ) -> &mut Self {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return self.push(" AND 1 = 0");
        }
        self.push(" AND ").push(column).push(" IN (");
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")")
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        self.binds
            .iter()
            .fold(sqlx::query(&self.sql), |q, b| match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(n) => q.bind(*n),
            })
    }

    /// Every row, for queries that are bounded by themselves.
    /// On the pool, or on a connection (inside a transaction).
    pub async fn fetch_all<'e, T>(
        &self,
        db: impl sqlx::Executor<'e, Database = sqlx::Any>,
        row: impl Fn(&AnyRow) -> sqlx::Result<T>,
    ) -> sqlx::Result<Vec<T>> {
        self.query().fetch_all(db).await?.iter().map(row).collect()
    }

    /// One page, cut by keyset on `key_column`: the rows after the request's
    /// key in the given order, at most its limit.
    pub async fn page<T, K: Key>(
        mut self,
        pool: &AnyPool,
        key_column: &'static str,
        order: Order,
        request: &PageRequest<K>,
        row: impl Fn(&AnyRow) -> sqlx::Result<T>,
        key_of: impl Fn(&T) -> K,
    ) -> sqlx::Result<Page<T, K>> {
        if let Some(after) = &request.after {
            let op = match order {
                Order::Ascending => " > ",
                Order::Descending => " < ",
            };
            self.push(" AND ")
                .push(key_column)
                .push(op)
                .bind(after.bind());
        }
        self.push(" ORDER BY ").push(key_column).push(match order {
            Order::Ascending => " ASC",
            Order::Descending => " DESC",
        });
        self.push(" LIMIT ").bind(request.limit + 1);
        let mut items = self.fetch_all(pool, row).await?;
        let more = items.len() as i64 > request.limit;
        items.truncate(request.limit as usize);
        let next = if more {
            items.last().map(&key_of)
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ParticipantId;

    #[test]
    fn fragments_and_binds_number_their_placeholders() {
        let mut q = ListQuery::new("SELECT id FROM participants WHERE study_id = ");
        q.bind("s")
            .eq("status", Some("consented"))
            .eq("stakeholder_group", None::<&str>)
            .sites(
                "site_id",
                &SiteScope::Only(vec![SiteId::new(), SiteId::new()]),
            );
        assert_eq!(
            q.sql,
            "SELECT id FROM participants WHERE study_id = $1 AND status = $2 AND site_id IN ($3, $4)"
        );
        assert_eq!(q.binds.len(), 4);
    }

    #[test]
    fn no_site_at_all_means_no_row() {
        let mut q = ListQuery::new("SELECT 1 WHERE 1 = 1");
        q.sites("site_id", &SiteScope::Only(vec![]));
        assert!(q.sql.ends_with("AND 1 = 0"));
        let mut all = ListQuery::new("SELECT 1 WHERE 1 = 1");
        all.sites("site_id", &SiteScope::All);
        assert_eq!(all.sql, "SELECT 1 WHERE 1 = 1");
    }

    #[test]
    fn page_requests_are_checked() {
        assert!(PageRequest::<ParticipantId>::parse(Some("RC-0001")).is_err());
        assert!(PageRequest::<i64>::parse(Some("-1")).is_err());
        let p = PageRequest::<i64>::parse(Some("42")).unwrap();
        assert_eq!((p.after, p.limit), (Some(42), DEFAULT_LIMIT));
        assert_eq!(
            PageRequest::<ParticipantId>::parse(Some("")).unwrap().after,
            None
        );
    }

    #[test]
    fn limits_are_one_to_the_maximum() {
        for bad in ["0", "-1", "201", "9223372036854775808", "ten", ""] {
            assert!(Limit::parse_from_parameter(bad).is_err(), "{bad}");
        }
        let ten = Limit::parse_from_parameter("10").unwrap();
        assert_eq!(PageRequest::<i64>::new(None, Some(ten)).limit, 10);
        assert_eq!(PageRequest::<i64>::new(None, None).limit, DEFAULT_LIMIT);
        let max = Limit::parse_from_parameter(&MAX_LIMIT.to_string()).unwrap();
        assert_eq!(PageRequest::<i64>::new(None, Some(max)).limit, MAX_LIMIT);
    }
}
