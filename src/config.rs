//! One configuration, read from flags, FIELDKIT_* environment variables and
//! defaults (in that order). No global statics: the parsed value is passed in.
//! `Debug` never prints secrets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use ipnet::IpNet;

/// Where fieldkit keeps its data; every command takes these.
#[derive(Args, Clone)]
pub struct Storage {
    /// Folder for the embedded database, keys, outgoing email and audit checkpoints.
    #[arg(
        long,
        env = "FIELDKIT_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database to use instead of the embedded one, e.g. postgres://user@host/db.
    /// Several fieldkit servers may share one PostgreSQL database.
    #[arg(long, env = "FIELDKIT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Folder of consent forms, one folder per study named after its short
    /// name: <study-slug>/<form-id>.v<N>.md. Checked at every start; a missing
    /// folder means no forms.
    #[arg(
        long,
        env = "FIELDKIT_CONSENT_FORMS",
        default_value = "./consent-forms",
        global = true
    )]
    pub consent_forms: PathBuf,

    /// A folder of the deployment's own instrument definitions
    /// (<id>.v<N>.toml), beside those fieldkit ships: the questionnaires and
    /// checklists the team holds a licence for. Checked at every start.
    #[arg(long, env = "FIELDKIT_INSTRUMENTS_DIR", global = true)]
    pub instruments_dir: Option<PathBuf>,

    /// Folder for recordings, photos and scans, encrypted at rest; by default
    /// `media` in the data dir. Servers sharing a PostgreSQL database must
    /// share this folder too (a network file system).
    #[arg(long, env = "FIELDKIT_MEDIA_DIR", global = true)]
    pub media_dir: Option<PathBuf>,
}

impl Storage {
    /// The database URL: the one given, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("fieldkit.db").display()
            ),
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    pub fn audit_dir(&self) -> PathBuf {
        self.data_dir.join("audit")
    }

    pub fn media_dir(&self) -> PathBuf {
        self.media_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("media"))
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("consent_forms", &self.consent_forms)
            .field("instruments_dir", &self.instruments_dir)
            .field("media_dir", &self.media_dir)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Settings of a running server.
#[derive(Args, Clone)]
pub struct ServerConfig {
    /// Address and port to listen on.
    #[arg(long, env = "FIELDKIT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// The address people use to reach this server (used in emailed links).
    /// Use https in production; HSTS is sent when it is https.
    #[arg(long, env = "FIELDKIT_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Send email through this SMTP server, e.g. smtps://user:pass@mail.example.ac.uk
    /// or smtp://host:587?tls=required. Without it, email is written to files.
    #[arg(long, env = "FIELDKIT_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The sender of fieldkit's email.
    #[arg(
        long,
        env = "FIELDKIT_MAIL_FROM",
        default_value = "fieldkit <fieldkit@localhost>"
    )]
    pub mail_from: String,

    /// Reverse proxies whose X-Forwarded-For header is believed (comma-separated
    /// addresses or networks). Without it, the connecting address is the client.
    #[arg(long, env = "FIELDKIT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Sign a session out after this many minutes without activity.
    #[arg(long, env = "FIELDKIT_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: i64,

    /// Sign a session out this many hours after sign-in, active or not.
    #[arg(long, env = "FIELDKIT_SESSION_MAX_HOURS", default_value_t = 12)]
    pub session_max_hours: i64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "FIELDKIT_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest upload accepted (a recording, a photo, a scan), in bytes.
    /// Uploads stream to disk, so this bounds disk use, not memory. A larger
    /// film is recorded as a reference to the team's own storage.
    #[arg(long, env = "FIELDKIT_MAX_UPLOAD_BYTES", default_value_t = 4 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// Sign an audit checkpoint this often (minutes) when the trail has grown.
    #[arg(long, env = "FIELDKIT_CHECKPOINT_MINUTES", default_value_t = 10)]
    pub checkpoint_minutes: u64,

    /// Log lines as text or JSON.
    #[arg(long, env = "FIELDKIT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServerConfig {
    /// Settings from FIELDKIT_* variables and defaults only, for commands other than `serve`.
    pub fn from_env() -> Self {
        use clap::{Command, FromArgMatches};
        let matches = Self::augment_args(Command::new("fieldkit")).get_matches_from(["fieldkit"]);
        Self::from_arg_matches(&matches).expect("defaults parse")
    }

    /// The public URL, falling back to the bound address.
    pub fn public_url(&self) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://{}", self.bind)).expect("a socket address makes a URL")
        })
    }

    pub fn is_https(&self) -> bool {
        self.public_url().scheme() == "https"
    }

    /// A link to a path on this server, for email.
    pub fn link(&self, path_and_query: &str) -> String {
        let base = self.public_url();
        format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query)
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("public_url", &self.public_url.as_ref().map(|u| u.as_str()))
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("session_max_hours", &self.session_max_hours)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("checkpoint_minutes", &self.checkpoint_minutes)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// Hides the password in a URL such as smtps://user:secret@host.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparseable URL)".into(),
    }
}

/// Creates a directory (and parents) readable only by this user.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let shown = redact_url("smtps://user:hunter2@mail.example.ac.uk:465");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let s = Storage {
            data_dir: "/tmp/x".into(),
            database_url: None,
            consent_forms: "/tmp/x/consent-forms".into(),
            instruments_dir: None,
            media_dir: None,
        };
        assert_eq!(s.database_url(), "sqlite:///tmp/x/fieldkit.db?mode=rwc");
    }
}
