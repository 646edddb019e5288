//! The instruments fieldkit knows: the definitions shipped in the binary
//! (`instruments/` in the repository), a deployment's own folder
//! (`--instruments-dir`, for what a team holds a licence for) and imports.
//! Every file is checked, with every problem named by file and line, before
//! anything is loaded; a version that has responses is frozen.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::definition::{self, Definition, Problem};
use super::store;
use crate::audit::action::{Key, Sha256Hex};
use crate::audit::{self, Action, Entity, NewEntry};
use crate::db::Db;

/// The definitions fieldkit ships: drafts and shapes, never licensed text.
const SHIPPED: [(&str, &str); 5] = [
    (
        "connecting-people-fidelity.v1.toml",
        include_str!("../../instruments/connecting-people-fidelity.v1.toml"),
    ),
    (
        "recollect-shaped-student.v1.toml",
        include_str!("../../instruments/recollect-shaped-student.v1.toml"),
    ),
    (
        "recollect-shaped-peer-trainer.v1.toml",
        include_str!("../../instruments/recollect-shaped-peer-trainer.v1.toml"),
    ),
    (
        "recollect-shaped-manager.v1.toml",
        include_str!("../../instruments/recollect-shaped-manager.v1.toml"),
    ),
    (
        "fieldkit-synthetic.v1.toml",
        include_str!("../../instruments/fieldkit-synthetic.v1.toml"),
    ),
];

/// A definition that passed every rule, and the file it came from.
#[derive(Clone, Debug)]
pub struct DefinitionFile {
    pub source: String,
    pub definition: Definition,
    pub text: String,
}

/// What the files hold: the definitions that passed, and every problem.
#[derive(Debug, Default)]
pub struct Checked {
    pub definitions: Vec<DefinitionFile>,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problems.is_empty() {
            return write!(
                f,
                "{} instrument definitions checked, all correct",
                self.definitions.len()
            );
        }
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        write!(
            f,
            "{} problems found; the server will not start until they are fixed",
            self.problems.len()
        )
    }
}

/// `<id>.v<N>.toml`: the id and version a file name promises.
fn file_name_parts(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_suffix(".toml")?;
    let (id, version) = stem.rsplit_once(".v")?;
    let version: u32 = version.parse().ok()?;
    (definition::is_instrument_id(id) && version >= 1).then_some((id, version))
}

fn check_one(checked: &mut Checked, shown: String, name: &str, text: &str) {
    let Some(expected) = file_name_parts(name) else {
        checked.problems.push(Problem {
            file: shown,
            line: None,
            message: "name instrument files <id>.v<N>.toml, e.g. my-checklist.v1.toml".into(),
        });
        return;
    };
    match definition::parse(&shown, text, Some(expected)) {
        Ok(definition) => checked.definitions.push(DefinitionFile {
            source: shown,
            definition,
            text: text.to_owned(),
        }),
        Err(problems) => checked.problems.extend(problems),
    }
}

/// Checks the shipped definitions and, when given, a deployment's folder.
/// Only a folder that exists but cannot be read is an error.
pub fn check(extra: Option<&Path>) -> anyhow::Result<Checked> {
    let mut checked = Checked::default();
    for (name, text) in SHIPPED {
        check_one(&mut checked, format!("instruments/{name}"), name, text);
    }
    if let Some(dir) = extra {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| {
            anyhow::anyhow!("cannot read the instruments folder {}: {e}", dir.display())
        })? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.starts_with('.') {
                entries.push((name, path));
            }
        }
        entries.sort();
        for (name, path) in entries {
            let shown = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => check_one(&mut checked, shown, &name, &text),
                    Err(_) => checked.problems.push(Problem {
                        file: shown,
                        line: None,
                        message: "is not UTF-8 text".into(),
                    }),
                },
                Err(e) => checked.problems.push(Problem {
                    file: shown,
                    line: None,
                    message: format!("cannot be read: {e}"),
                }),
            }
        }
    }
    let mut seen: Vec<(&str, u32, &str)> = Vec::new();
    for f in &checked.definitions {
        let d = &f.definition;
        if let Some((_, _, first)) = seen
            .iter()
            .find(|(id, v, _)| *id == d.id && *v == d.version)
        {
            checked.problems.push(Problem {
                file: f.source.clone(),
                line: None,
                message: format!(
                    "{} version {} is already defined by {first}: give this one another id or version",
                    d.id, d.version
                ),
            });
        } else {
            seen.push((&d.id, d.version, &f.source));
        }
    }
    Ok(checked)
}

pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What loading did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instruments: {} loaded, {} updated (no responses yet), {} unchanged",
            self.loaded.len(),
            self.updated.len(),
            self.unchanged
        )
    }
}

/// Checks every definition and loads what is new; refuses, changing
/// nothing, on any problem, or when a file would change a version that has
/// responses. One transaction, so two servers starting together agree.
pub async fn load(db: &Db, extra: Option<&Path>, now: i64) -> anyhow::Result<LoadReport> {
    let checked = check(extra)?;
    if !checked.problems.is_empty() {
        let lines: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "{} problems in the instrument definitions; none was loaded:\n{}",
            lines.len(),
            lines.join("\n")
        );
    }
    let mut tx = db.begin().await?;
    crate::audit::lock_trail(&mut tx).await?;
    let mut report = LoadReport::default();
    let mut frozen = Vec::new();
    for f in &checked.definitions {
        let d = &f.definition;
        let hash = content_hash(&f.text);
        let new = store::NewVersion {
            definition: d,
            text: &f.text,
            source: &f.source,
            content_hash: &hash,
            study: None,
        };
        let id = match store::version_by_key(tx.conn(), &d.id, d.version).await? {
            None => {
                report.loaded.push(f.source.clone());
                store::insert_version(&mut tx, &new, now).await?
            }
            Some(existing) if existing.content_hash == hash => {
                report.unchanged += 1;
                continue;
            }
            Some(existing) if existing.study_id.is_some() => {
                frozen.push(format!(
                    "{}: {} version {} was imported into a study; give the file another id or version",
                    f.source, d.id, d.version
                ));
                continue;
            }
            Some(existing) => {
                // Locked first, then asked: a response begun a moment ago
                // (which takes the same lock) is seen.
                store::lock_version(&mut tx, &existing.id).await?;
                if store::has_responses(tx.conn(), &existing.id).await? {
                    frozen.push(format!(
                        "{}: {} version {} has responses, so it cannot change; put the change in {}.v{}.toml",
                        f.source,
                        d.id,
                        d.version,
                        d.id,
                        d.version + 1
                    ));
                    continue;
                }
                store::update_version(&mut tx, &existing.id, &new, now).await?;
                report.updated.push(f.source.clone());
                existing.id
            }
        };
        let action = Action::InstrumentLoad {
            instrument_id: Key::published(&d.id),
            version: d.version,
            origin: "file",
            content_hash: Sha256Hex::parse(&hash).context("a content hash is a SHA-256")?,
        };
        audit::append(
            &mut tx,
            now,
            NewEntry::system(action, Entity::InstrumentVersion(id)),
        )
        .await?;
    }
    if !frozen.is_empty() {
        anyhow::bail!(
            "a used instrument version is immutable; nothing was loaded:\n{}",
            frozen.join("\n")
        );
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_definition_passes_its_own_checks() {
        let checked = check(None).unwrap();
        assert!(checked.problems.is_empty(), "{checked}");
        assert_eq!(checked.definitions.len(), SHIPPED.len());
    }

    #[test]
    fn file_names_promise_an_id_and_version() {
        assert_eq!(file_name_parts("cp.v2.toml"), Some(("cp", 2)));
        assert_eq!(file_name_parts("my-list.v10.toml"), Some(("my-list", 10)));
        for bad in [
            "cp.toml",
            "cp.v0.toml",
            "Cp.v1.toml",
            "cp.v1.md",
            "cp.vx.toml",
        ] {
            assert_eq!(file_name_parts(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_deployment_folder_is_checked_with_lines_and_duplicates_named() {
        let dir = std::env::temp_dir().join(format!("fk-instr-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = SHIPPED[4].1;
        std::fs::write(dir.join("fieldkit-synthetic.v1.toml"), shipped).unwrap();
        std::fs::write(
            dir.join("broken.v1.toml"),
            shipped
                .replace("id = \"fieldkit-synthetic\"", "id = \"broken\"")
                .replace(
                    "scale = \"agree5\"\nreverse = true",
                    "scale = \"agree7\"\nreverse = true",
                ),
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "hello").unwrap();
        let checked = check(Some(&dir)).unwrap();
        let text = checked.to_string();
        assert!(
            text.contains("already defined by instruments/fieldkit-synthetic.v1.toml"),
            "{text}"
        );
        assert!(text.contains("broken.v1.toml:"), "{text}");
        assert!(text.contains("scale \"agree7\" is not defined"), "{text}");
        assert!(text.contains("notes.txt: name instrument files"), "{text}");
        // The problem names the line of the item that uses the unknown scale.
        let problem = checked
            .problems
            .iter()
            .find(|p| p.message.contains("agree7"))
            .unwrap();
        let line = problem.line.unwrap();
        let broken = std::fs::read_to_string(dir.join("broken.v1.toml")).unwrap();
        let item_line = broken
            .lines()
            .position(|l| l.contains("key = \"f3\""))
            .unwrap()
            + 1;
        assert!(
            (item_line - 1..=item_line).contains(&line),
            "{line} vs {item_line}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
