//! The database handle: one code path over SQLite (the embedded default) and
//! PostgreSQL (several instances). Portable SQL with `$n` placeholders; the
//! only per-engine branches are the few named in docs/decisions.md.
//!
//! The rule every write follows: a read that decides a write happens inside
//! the write transaction, after the lock that serialises it. A `Tx` knows its
//! engine, so a store function can take the right lock (`FOR UPDATE` on
//! PostgreSQL; on SQLite the transaction already holds the write lock).

pub mod list;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The statement as it locks the rows it reads until the transaction ends:
/// `FOR UPDATE` on PostgreSQL; on SQLite the transaction already holds the
/// write lock (BEGIN IMMEDIATE). The one way fieldkit locks a row (`lock_in_study`
/// applies the same rule to a row named by its study and id).
#[macro_export]
macro_rules! for_update {
    ($tx:expr, $($sql:tt)+) => {
        match $tx.backend() {
            $crate::db::Backend::Postgres => concat!($($sql)+, " FOR UPDATE"),
            $crate::db::Backend::Sqlite => concat!($($sql)+),
        }
    };
}

/// `for_update!` with a shared lock: others may read and share it, nobody
/// may change the row until the transaction ends (PostgreSQL; SQLite's one
/// writer serialises anyway).
#[macro_export]
macro_rules! for_share {
    ($tx:expr, $($sql:tt)+) => {
        match $tx.backend() {
            $crate::db::Backend::Postgres => concat!($($sql)+, " FOR SHARE"),
            $crate::db::Backend::Sqlite => concat!($($sql)+),
        }
    };
}

/// A write transaction, with the engine it runs on.
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    backend: Backend,
}

impl Tx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection, for running statements inside the transaction.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        self.inner.commit().await
    }
}

/// Locks row `id` of `table` (a table with `study_id`) until `tx` ends:
/// false when the study has no such row. Read the row after it.
pub async fn lock_in_study(
    tx: &mut Tx,
    table: &'static str,
    study: &crate::ids::StudyId,
    id: &str,
) -> sqlx::Result<bool> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!("SELECT id FROM {table} WHERE study_id = $1 AND id = $2{lock}");
    let found = sqlx::query(&sql)
        .bind(study)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(found.is_some())
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects and checks the database answers. SQLite connections get WAL,
    /// synchronous=FULL, foreign keys and a busy timeout, set on every connection
    /// because sqlx leaves the journal mode alone.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("the database URL must start with sqlite: or postgres:");
        };
        if backend == Backend::Sqlite {
            create_sqlite_parent(url)?;
        }
        let options = AnyConnectOptions::from_str(url).context("the database URL is not valid")?;
        // One plain connection first: when the database cannot be reached the pool
        // would retry until its timeout and then report only "pool timed out",
        // hiding the reason (connection refused, unknown host, bad password).
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::AnyConnection::connect_with(&options),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no answer within 10 seconds"))
        // sqlx's message already quotes its source; keep it once.
        .and_then(|r| r.map_err(|e| anyhow::anyhow!("{e}")))
        .context("cannot reach the database")?;
        probe.close().await.ok();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // Erased identities and sent email bodies must not stay
                        // readable in freed pages of the file.
                        conn.execute("PRAGMA secure_delete = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("cannot reach the database")?;
        Ok(Db { pool, backend })
    }

    /// Applies pending migrations. On PostgreSQL the migrator holds an advisory
    /// lock, so instances that start together do not race.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations failed")
    }

    /// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`:
    /// it takes the write lock first, so writers queue on the busy timeout
    /// instead of one failing when it upgrades from reading, and every read in
    /// it sees the state it will write over. On PostgreSQL writers that must be
    /// serialised lock the row they decide on.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        let inner = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            inner,
            backend: self.backend,
        })
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

fn create_sqlite_parent(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            crate::config::private_dir(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    Ok(())
}

/// Reads an optional flag column (SMALLINT 0/1).
pub fn flag(v: i16) -> bool {
    v != 0
}
