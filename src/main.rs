//! The fieldkit command line: parse, then call the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldkit::commands;
use fieldkit::config::{LogFormat, ServerConfig, Storage};

/// fieldkit keeps a research team's fieldwork records: who took part and what
/// they agreed to, what was collected, and a tamper-evident trail of every
/// change. Every command works on the data folder (--data-dir) or on a
/// PostgreSQL database (--database-url).
#[derive(Parser)]
#[command(name = "fieldkit", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    storage: Storage,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server. With no options it keeps everything in ./data
    /// (an embedded database, keys, and outgoing email as files) and prints
    /// a one-time link to create the first administrator.
    Serve(Box<ServerConfig>),
    /// Bring the database's structure up to date (serve does this too).
    Migrate,
    /// Manage administrator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check and copy the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Work with the consent forms: the files in the consent-forms folder,
    /// one folder per study, that participants agree to.
    #[command(subcommand)]
    ConsentForms(ConsentFormsCommand),
    /// Work with instrument definitions: the fidelity checklists and
    /// questionnaires fieldkit ships, and those in --instruments-dir.
    #[command(subcommand)]
    Instruments(InstrumentsCommand),
    /// Copy the embedded database to a file while the server runs
    /// (for PostgreSQL it tells you how to use pg_dump).
    Backup {
        /// The backup file to create; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add two clearly synthetic demonstration studies to look around in.
    Demo {
        /// Also enrol this many synthetic participants in the recovery-college
        /// demonstration study (for trying lists and timings at scale).
        #[arg(long, default_value_t = 0)]
        participants: usize,
    },
    /// Look after the identity vault, where participants' names and contact
    /// details are kept encrypted, apart from the research data.
    #[command(subcommand)]
    Vault(VaultCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator. The password is asked for, or read from
    /// standard input when that is not a terminal. No default passwords, ever.
    Create {
        /// Their email address, used to sign in.
        #[arg(long)]
        email: String,
        /// Their name as shown in fieldkit.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that no entry of the audit trail was changed, removed or
    /// reordered, and that it matches every signed checkpoint. Names the first
    /// bad entry. With --log and --public-key it checks an exported copy
    /// without any database (an ethics reviewer can run it on their laptop).
    Verify {
        /// An exported log (from `fieldkit audit export` or the API).
        #[arg(long, requires = "public_key")]
        log: Option<PathBuf>,
        /// The checkpoint signing key: keys/audit-signing.pub in the data folder.
        #[arg(long, requires = "log")]
        public_key: Option<PathBuf>,
    },
    /// Write the whole audit trail and its signed checkpoints to a file.
    Export {
        /// The file to write (JSON lines); it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a checkpoint of the audit trail now (the server does this every few minutes).
    Checkpoint,
}

#[derive(Subcommand)]
enum ConsentFormsCommand {
    /// Check every consent form file (<study-slug>/<form-id>.v<N>.md in the
    /// consent-forms folder) before the ethics-approved wording goes live:
    /// the details of the study and its information sheet, every clause, and
    /// that each optional use of data has its own optional clause. Lists every
    /// problem with its file and line; exits with 1 if there is any. Needs no
    /// database. The server makes the same check at every start and will not
    /// start while any problem remains.
    Check,
}

#[derive(Subcommand)]
enum InstrumentsCommand {
    /// Check every instrument definition (<id>.v<N>.toml): items, scales,
    /// score rules, conversion tables, bands and time points. Lists every
    /// problem with its file and line; exits with 1 if there is any. Needs no
    /// database. The server makes the same check at every start.
    Check,
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Start encrypting participants' identities with a new key and re-encrypt
    /// every stored identity with it (do this if a key may have leaked, or as
    /// your data management plan says). The old keys stay in the keys folder:
    /// backups made before now still need them. A running server takes up the
    /// new key by itself. With FIELDKIT_VAULT_KEYS, first add the new key there
    /// (N:hex, N one higher) on every server and restart them; this then
    /// re-encrypts to the highest key listed.
    RotateKey,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(s) => s.log_format,
        _ => LogFormat::Text,
    };
    commands::init_logging(log_format);
    let storage = cli.storage;
    let result = match cli.command {
        Command::Serve(server) => commands::serve(storage, *server).await.map(|_| true),
        Command::Migrate => commands::migrate(storage).await.map(|_| true),
        Command::Admin(AdminCommand::Create { email, name }) => {
            commands::admin_create(storage, &email, &name)
                .await
                .map(|_| true)
        }
        Command::Audit(AuditCommand::Verify { log, public_key }) => {
            commands::audit_verify(storage, log.as_deref(), public_key.as_deref()).await
        }
        Command::Audit(AuditCommand::Export { out }) => {
            commands::audit_export(storage, &out).await.map(|_| true)
        }
        Command::Audit(AuditCommand::Checkpoint) => {
            commands::audit_checkpoint(storage).await.map(|_| true)
        }
        Command::ConsentForms(ConsentFormsCommand::Check) => {
            commands::consent_forms_check(&storage)
        }
        Command::Instruments(InstrumentsCommand::Check) => commands::instruments_check(&storage),
        Command::Backup { out } => commands::backup(storage, &out).await.map(|_| true),
        Command::Demo { participants } => commands::demo(storage, participants).await.map(|_| true),
        Command::Vault(VaultCommand::RotateKey) => {
            commands::vault_rotate_key(storage).await.map(|_| true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("fieldkit: {e:#}");
            ExitCode::from(2)
        }
    }
}
