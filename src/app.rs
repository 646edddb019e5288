//! The assembled application: everything a request or a command needs, built
//! once from the configuration and passed by reference (no global statics).

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::password::PasswordHasher;
use crate::clock::Clock;
use crate::config::{ServerConfig, Storage};
use crate::db::Db;
use crate::keys::Keys;
use crate::mail::Mailer;
use crate::media::service::MediaStore;
use crate::templates::Templates;
use crate::vault::Vault;

pub struct Inner {
    pub db: Db,
    pub clock: Clock,
    pub keys: Keys,
    pub vault: Vault,
    pub media: MediaStore,
    pub storage: Storage,
    pub server: ServerConfig,
    pub hasher: PasswordHasher,
    pub templates: Arc<Templates>,
    pub mailer: Mailer,
}

#[derive(Clone)]
pub struct App(Arc<Inner>);

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Opens the database (applying migrations), loads or creates the keys (the
    /// vault's too) and templates, and prepares the mail transport. Publishing
    /// the consent forms is a use case of its own (`serve` and `migrate` run it).
    pub async fn open(storage: Storage, server: ServerConfig, clock: Clock) -> anyhow::Result<App> {
        let db = Db::connect(&storage.database_url()).await?;
        db.migrate().await?;
        let keys = Keys::load_or_create(&storage.keys_dir())?;
        let vault = Vault::load_or_create(&storage.keys_dir())?;
        let media = MediaStore::open(&storage.media_dir())
            .with_context(|| format!("cannot create {}", storage.media_dir().display()))?;
        let templates = Arc::new(Templates::load().context("the page templates are broken")?);
        let mailer = Mailer::new(&server, &storage, templates.clone())?;
        let hasher =
            PasswordHasher::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
        hasher.warm();
        Ok(App(Arc::new(Inner {
            db,
            clock,
            keys,
            vault,
            media,
            storage,
            server,
            hasher,
            templates,
            mailer,
        })))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}
