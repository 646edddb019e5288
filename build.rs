// Rebuild when a migration is added: `sqlx::migrate!` embeds the migration
// folders at compile time but cannot ask Cargo to watch them for new files
// (what `sqlx migrate build-script` writes).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
